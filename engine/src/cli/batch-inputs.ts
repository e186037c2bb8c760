/**
 * What a batch runs on (`cineseg batch <folder|list-file>`): its clips and their prompts.
 *
 * Clips of a folder: video files (mp4, mov, mkv, webm, avi, m4v) and DICOM files (by their "DICM"
 * preamble, any extension) directly in the folder, named by their file name without extension;
 * and sub-folders holding a `clip.*` video (the samples layout), named by the sub-folder.
 *
 * A list file (any file that is not a folder) names one clip per line: a path (relative to the
 * list file) or, for `batch --queue` only, an http(s) URL that workers download (a server's media
 * URL with its `?token=`). Blank lines and lines starting with `#` are skipped. A clip is named by
 * its file name without extension, or by its folder for a samples-layout `clip.*` (whose
 * prompts.json is then used like a folder's).
 *
 * Prompts file (JSON): clip name → list of prompts in video pixels, `"*"` for every clip without
 * its own entry:
 * ```json
 * { "ultrasound-1": [ { "object": 1, "frame": 0, "point": [213, 181] },
 *                     { "object": 1, "frame": 0, "point": [230, 190], "label": 0 },
 *                     { "object": 2, "frame": 0, "box": [120, 80, 170, 130] },
 *                     { "object": 3, "frame": 5, "mask": "masks/obj3-f5.png" } ] }
 * ```
 * Points (label 1 positive, default; 0 negative) and a box on the same object and frame form one
 * prompt; a mask (PNG at video size, nonzero = object; path relative to the prompts file) stands
 * alone. Without `--prompts` (or for a clip it does not name), a clip folder's own `prompts.json`
 * in the samples' format (`objects[]` with `point`, `box`, `mask`) is used, taking the kind named
 * by `--sample-prompt` (default box).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';
import { readPngMask } from '../mask/png-mask.js';
import { encodeMaskCompressed } from '../mask/rle.js';
import { isDicomFile } from '../source/dicom-cine-source.js';
import type { PromptInput } from '../store/store-records.js';
import type { Box, Point } from '../track/prompts.js';

const VIDEO_EXTS = new Set(['.mp4', '.mov', '.mkv', '.webm', '.avi', '.m4v']);

/** One clip of a batch. */
export interface BatchClip {
  name: string;
  /** An absolute path, or (list files only) an http(s) URL. */
  path: string;
  /** The clip's own folder (samples layout), where a prompts.json may live. */
  folder?: string;
}

/** One prompt of the batch prompts file. */
export interface BatchPromptEntry {
  object: number;
  frame: number;
  point?: [number, number];
  label?: 0 | 1;
  box?: Box;
  mask?: string;
}

export type SamplePromptKind = 'point' | 'box' | 'mask';

/** Finds the clips of a batch folder (see the module comment), sorted by name. */
export async function findBatchClips(folder: string): Promise<BatchClip[]> {
  let entries;
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `batch folder not found: ${folder}`, { cause });
  }
  const clips: BatchClip[] = [];
  for (const e of entries) {
    const p = join(folder, e.name);
    // Follow links, so a batch folder can be a set of links to clips kept elsewhere.
    const st = e.isSymbolicLink() ? statSync(p, { throwIfNoEntry: false }) : e;
    if (!st) continue;
    if (st.isFile()) {
      if (VIDEO_EXTS.has(extname(e.name).toLowerCase()) || (await isDicomFile(p))) clips.push({ name: basename(e.name, extname(e.name)), path: p });
    } else if (st.isDirectory()) {
      const inner = readdirSync(p).find((f) => /^clip\./i.test(f) && (VIDEO_EXTS.has(extname(f).toLowerCase()) || f.toLowerCase().endsWith('.dcm')));
      if (inner) clips.push({ name: e.name, path: join(p, inner), folder: p });
    }
  }
  clips.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  return uniqueNames(clips, folder);
}

function uniqueNames(clips: BatchClip[], where: string): BatchClip[] {
  const seen = new Set<string>();
  for (const c of clips) {
    if (seen.has(c.name)) throw new CinesegError(ErrorCode.E_USAGE, `two clips are named "${c.name}" in ${where}`);
    seen.add(c.name);
  }
  return clips;
}

/** Reads a list file (see the module comment), in its order. */
export function readBatchList(file: string): BatchClip[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `batch list not found: ${file}`, { cause });
  }
  const clips: BatchClip[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^https?:\/\//i.test(line)) {
      const seg = decodeURIComponent(new URL(line).pathname.split('/').filter(Boolean).pop() ?? 'clip');
      clips.push({ name: basename(seg, extname(seg)), path: line });
      continue;
    }
    const p = resolve(dirname(file), line);
    if (!existsSync(p)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `${file}: no clip at ${line}`);
    const samples = /^clip\./i.test(basename(p));
    clips.push({ name: samples ? basename(dirname(p)) : basename(p, extname(p)), path: p, ...(samples ? { folder: dirname(p) } : {}) });
  }
  return uniqueNames(clips, file);
}

/** The clips of a batch argument: a folder's ({@link findBatchClips}) or a list file's ({@link readBatchList}). */
export async function findBatchInputs(folderOrList: string): Promise<BatchClip[]> {
  const st = statSync(folderOrList, { throwIfNoEntry: false });
  if (st?.isFile()) return readBatchList(folderOrList);
  return findBatchClips(folderOrList);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? ErrorCode.E_INPUT_NOT_FOUND : ErrorCode.E_USAGE;
    throw new CinesegError(code, `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** Reads the batch prompts file: clip name → entries (mask paths made absolute). */
export function readBatchPrompts(path: string): Map<string, BatchPromptEntry[]> {
  const raw = readJson(path);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CinesegError(ErrorCode.E_USAGE, `${path}: expected an object mapping clip names to prompt lists`);
  const out = new Map<string, BatchPromptEntry[]>();
  for (const [clip, list] of Object.entries(raw as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw new CinesegError(ErrorCode.E_USAGE, `${path}: "${clip}" must map to a list of prompts`);
    out.set(
      clip,
      list.map((e: BatchPromptEntry, i) => {
        const where = `${path}: ${clip}[${i}]`;
        if (!Number.isInteger(e.object) || e.object < 0) throw new CinesegError(ErrorCode.E_USAGE, `${where}: "object" must be a non-negative integer`);
        if (!Number.isInteger(e.frame) || e.frame < 0) throw new CinesegError(ErrorCode.E_USAGE, `${where}: "frame" must be a non-negative integer`);
        const kinds = [e.point, e.box, e.mask].filter((x) => x !== undefined).length;
        if (kinds !== 1) throw new CinesegError(ErrorCode.E_USAGE, `${where}: give exactly one of "point", "box" or "mask"`);
        return e.mask === undefined ? e : { ...e, mask: resolve(dirname(path), e.mask) };
      }),
    );
  }
  return out;
}

/** A samples-format prompts.json (objects[] with point, box and mask) as batch entries of one kind. */
export function samplePrompts(folder: string, kind: SamplePromptKind): BatchPromptEntry[] | null {
  const p = join(folder, 'prompts.json');
  if (!existsSync(p)) return null;
  const j = readJson(p) as { objects?: { object_id: number; frame: number; point?: [number, number]; box?: Box; mask?: string }[] };
  if (!Array.isArray(j.objects)) throw new CinesegError(ErrorCode.E_USAGE, `${p}: no "objects" list`);
  return j.objects.map((o) => {
    const base = { object: o.object_id, frame: o.frame };
    if (kind === 'point' && o.point) return { ...base, point: o.point };
    if (kind === 'mask' && o.mask) return { ...base, mask: resolve(folder, o.mask) };
    if (kind === 'box' && o.box) return { ...base, box: o.box };
    throw new CinesegError(ErrorCode.E_USAGE, `${p}: object ${o.object_id} has no ${kind}`);
  });
}

/** Groups entries per (object, frame) into store prompts: clicks + box together, masks alone. */
export function toStorePrompts(entries: readonly BatchPromptEntry[], width: number, height: number): PromptInput[] {
  const groups = new Map<string, { object: number; frame: number; points: Point[]; box?: Box; mask?: string }>();
  for (const e of entries) {
    const k = `${e.object}:${e.frame}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { object: e.object, frame: e.frame, points: [] }));
    if (e.point) g.points.push({ x: e.point[0], y: e.point[1], label: e.label ?? 1 });
    if (e.box) {
      if (g.box) throw new CinesegError(ErrorCode.E_USAGE, `object ${e.object} has two boxes on frame ${e.frame}`);
      g.box = e.box;
    }
    if (e.mask) g.mask = e.mask;
  }
  return [...groups.values()].map((g): PromptInput => {
    if (g.mask) {
      if (g.points.length || g.box) throw new CinesegError(ErrorCode.E_USAGE, `object ${g.object} frame ${g.frame}: a mask cannot be combined with points or a box`);
      const m = readPngMask(g.mask);
      if (m.width !== width || m.height !== height) throw new CinesegError(ErrorCode.E_MASK_INVALID, `${g.mask} is ${m.width}x${m.height}, the clip is ${width}x${height}`);
      return { objectId: g.object, frame: g.frame, kind: 'mask', mask: encodeMaskCompressed(m.mask, height, width) };
    }
    if (g.box && g.points.length === 0) return { objectId: g.object, frame: g.frame, kind: 'box', box: g.box };
    return { objectId: g.object, frame: g.frame, kind: 'points', points: g.points, ...(g.box ? { box: g.box } : {}) };
  });
}

/** The prompts of a clip: the prompts file's entry for it, else its "*" entry, else its folder's prompts.json. */
export function clipPromptEntries(clip: BatchClip, fileprompts: Map<string, BatchPromptEntry[]> | null, samplePrompt: SamplePromptKind = 'box'): BatchPromptEntry[] | null {
  return fileprompts?.get(clip.name) ?? fileprompts?.get('*') ?? (clip.folder ? samplePrompts(clip.folder, samplePrompt) : null);
}
