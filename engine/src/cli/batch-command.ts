/**
 * `cineseg batch <folder> --prompts <file> --out <dir>`: tracks every clip of a folder into the
 * session store and exports each, resumably — a second run after a crash skips finished clips and
 * continues partial ones from the store (store/track-to-store.ts).
 *
 * Clips: video files (mp4, mov, mkv, webm, avi, m4v) and DICOM files (by their "DICM" preamble,
 * any extension) directly in the folder, named by their file name without extension; and
 * sub-folders holding a `clip.*` video (the samples layout), named by the sub-folder.
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
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { readPngMask } from '../mask/png-mask.js';
import { encodeMaskCompressed } from '../mask/rle.js';
import { defaultBundleDir, loadBundle } from '../model/bundle.js';
import { ModelSessions, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import { isDicomFile } from '../source/dicom-cine-source.js';
import { defaultStorePath, SessionStore, type MaskRecord, type PromptInput, type SessionRecord } from '../store/session-store.js';
import { registerClipFile } from '../store/register-clip.js';
import { trackSessionToStore } from '../store/track-to-store.js';
import type { Box, Point } from '../track/prompts.js';
import { EXPORT_FORMATS, exportMasks, type ExportFormat } from './export-command.js';
import { epFlags, EP_HELP, STRICT_EP_HELP, VERBOSE_HELP } from './ep-options.js';

const VIDEO_EXTS = new Set(['.mp4', '.mov', '.mkv', '.webm', '.avi', '.m4v']);

/** One clip found in the batch folder. */
export interface BatchClip {
  name: string;
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

export interface BatchOptions {
  folder: string;
  out: string;
  /** Prompts file (see the module comment). */
  prompts?: string;
  samplePrompt?: SamplePromptKind;
  store?: string;
  concurrency?: number;
  model?: string;
  ep?: ExecutionProviderRequest;
  /** No fallback from `ep`; onnxruntime's warnings shown (see ep-options.ts). */
  strictEp?: boolean;
  verbose?: boolean;
  threads?: number;
  /** Export formats per clip (default ['vis']). */
  formats?: ExportFormat[];
  /** Called after every store commit (the batch's acknowledgements). */
  onCommit?: (clip: string, records: MaskRecord[]) => void;
  onClipProgress?: (clip: string, done: number, total: number) => void;
  onClipEnd?: (row: BatchRow) => void;
  log?: (line: string) => void;
}

export type BatchStatus = 'done' | 'resumed' | 'skipped' | 'failed';

/** One line of the summary table. */
export interface BatchRow {
  clip: string;
  status: BatchStatus;
  sessionId: string | null;
  frames: number;
  objects: number;
  framesWritten: number;
  seconds: number;
  error?: string;
}

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
  const seen = new Set<string>();
  for (const c of clips) {
    if (seen.has(c.name)) throw new CinesegError(ErrorCode.E_USAGE, `two clips are named "${c.name}" in ${folder}`);
    seen.add(c.name);
  }
  return clips;
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

/**
 * Runs a batch (see the module comment) and returns one summary row per clip. Clips fail alone:
 * a failed clip is reported in its row and the others go on.
 */
export async function runBatch(opts: BatchOptions): Promise<BatchRow[]> {
  const log = opts.log ?? (() => undefined);
  const clips = await findBatchClips(opts.folder);
  if (clips.length === 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `no clips in ${opts.folder}`);
  const fileprompts = opts.prompts ? readBatchPrompts(opts.prompts) : null;
  const formats = opts.formats ?? ['vis'];
  const outDir = resolve(opts.out);
  const batchKey = outDir;
  const store = SessionStore.open(opts.store ?? defaultStorePath());
  const sessions = await ModelSessions.create(loadBundle(opts.model ?? defaultBundleDir()), {
    ep: opts.ep ?? 'auto',
    ...(opts.strictEp ? { strictEp: true } : {}),
    ...(opts.verbose ? { verbose: true } : {}),
    log,
    ...(opts.threads ? { threads: opts.threads } : {}),
  });
  const rows: BatchRow[] = new Array(clips.length);
  try {
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= clips.length) return;
        const clip = clips[i]!;
        const t0 = performance.now();
        let session: SessionRecord | null = null;
        try {
          const rec = await registerClipFile(store, clip.path);
          session = store.listSessions({ clipId: rec.id }).find((s) => s.meta.batch === batchKey) ?? null;
          const finish = async (status: BatchStatus, framesWritten: number): Promise<BatchRow> => {
            for (const f of formats) {
              const out = f === 'png' ? join(outDir, clip.name, 'png') : join(outDir, clip.name, `masks.${f === 'vis' ? 'json' : f === 'coco' ? 'coco.json' : f === 'nifti' ? 'nii.gz' : 'seg.dcm'}`);
              await exportMasks({ source: session!.id, format: f, out, store: store.path });
            }
            return { clip: clip.name, status, sessionId: session!.id, frames: rec.numFrames, objects: store.listObjects(session!.id).length, framesWritten, seconds: (performance.now() - t0) / 1000 };
          };
          if (session?.status === 'done') {
            rows[i] = await finish('skipped', 0);
          } else {
            const resumed = session !== null;
            if (!session) {
              const entries = fileprompts?.get(clip.name) ?? fileprompts?.get('*') ?? (clip.folder ? samplePrompts(clip.folder, opts.samplePrompt ?? 'box') : null);
              if (!entries || entries.length === 0) throw new CinesegError(ErrorCode.E_USAGE, `no prompts for clip "${clip.name}"`);
              const prompts = toStorePrompts(entries, rec.width, rec.height);
              // Session and prompts commit together: a crash leaves either nothing or all of it.
              session = store.atomic(() => {
                const s = store.createSession(rec.id, { meta: { batch: batchKey, clip: clip.name, model: sessions.bundle.name } });
                for (const p of prompts) store.addPrompt(s.id, p);
                return s;
              });
            }
            const sid = session.id;
            const r = await trackSessionToStore({
              store,
              sessionId: sid,
              video: clip.path,
              sessions,
              ...(opts.onCommit ? { onCommit: (recs: MaskRecord[]) => opts.onCommit!(clip.name, recs) } : {}),
              onProgress: (d, t) => opts.onClipProgress?.(clip.name, d, t),
            });
            if (!r.complete) throw new CinesegError(ErrorCode.E_INTERNAL, `clip "${clip.name}" ended with frames missing`);
            store.setSessionStatus(sid, 'done');
            rows[i] = await finish(resumed ? 'resumed' : 'done', r.framesWritten);
          }
        } catch (err) {
          const e = toCinesegError(err);
          log(`${clip.name}: ${e.toLine()}`);
          rows[i] = { clip: clip.name, status: 'failed', sessionId: session?.id ?? null, frames: 0, objects: 0, framesWritten: 0, seconds: (performance.now() - t0) / 1000, error: e.toLine() };
        }
        opts.onClipEnd?.(rows[i]!);
      }
    };
    const n = Math.max(1, Math.min(opts.concurrency ?? 1, clips.length));
    await Promise.all(Array.from({ length: n }, worker));
    return rows;
  } finally {
    await sessions.destroy();
    store.destroy();
  }
}

/** The summary table printed at the end of a batch. */
export function formatBatchTable(rows: readonly BatchRow[]): string {
  const head = ['clip', 'status', 'frames', 'objects', 'written', 'seconds', 'session / error'];
  const body = rows.map((r) => [r.clip, r.status, String(r.frames), String(r.objects), String(r.framesWritten), r.seconds.toFixed(1), r.error ?? r.sessionId ?? '']);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]) => cells.map((x, c) => (c >= 2 && c <= 5 ? x.padStart(widths[c]!) : x.padEnd(widths[c]!))).join('  ').trimEnd();
  const counts = (['done', 'resumed', 'skipped', 'failed'] as const).map((s) => `${rows.filter((r) => r.status === s).length} ${s}`).join(', ');
  return [line(head), ...body.map(line), `${rows.length} clip(s): ${counts}`].join('\n');
}

/** Overall and per-clip progress on one terminal line (stderr, TTY only). */
function batchProgress(total: number): { clip: (name: string, done: number, of: number) => void; clipEnd: () => void; end: () => void } {
  if (!process.stderr.isTTY) return { clip: () => undefined, clipEnd: () => undefined, end: () => undefined };
  const active = new Map<string, [number, number]>();
  let finished = 0;
  let last = 0;
  const bar = (d: number, t: number, w: number) => {
    const f = Math.round((w * d) / Math.max(1, t));
    return `[${'#'.repeat(f)}${'.'.repeat(w - f)}]`;
  };
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const parts = [...active].map(([n, [d, t]]) => `${n} ${bar(d, t, 12)} ${d}/${t}`);
    const line = `clips ${bar(finished, total, 20)} ${finished}/${total}  ${parts.join('  ')}`;
    // A pseudo-terminal can report 0 columns: treat that as unknown.
    const cols = process.stderr.columns || 120;
    process.stderr.write(`\r\x1b[2K${line.slice(0, cols - 1)}`);
  };
  return {
    clip(name, d, t) {
      active.set(name, [d, t]);
      draw();
    },
    clipEnd() {
      finished++;
      active.clear();
      draw(true);
    },
    end() {
      process.stderr.write('\n');
    },
  };
}

export function registerBatch(program: Command): void {
  program
    .command('batch')
    .description('Track every clip of a folder into the session store and export each; resumable after a crash')
    .argument('<folder>', 'folder of clips (video or DICOM files, or sub-folders with clip.* and prompts.json)')
    .option('--prompts <file>', 'JSON: clip name → [{object, frame, point|box|mask}] ("*" for all clips)')
    .option('--sample-prompt <kind>', "without --prompts: which prompt of a clip folder's prompts.json to use (point, box, mask)", 'box')
    .requiredOption('--out <dir>', 'output folder (one sub-folder per clip)')
    .option('--store <db>', 'session store (default: $CINESEG_STORE or ./cineseg.db)')
    .option('--concurrency <n>', 'clips tracked at once', '1')
    .option('--format <list>', `export formats, comma-separated (${EXPORT_FORMATS.join(', ')})`, 'vis')
    .option('--model <bundle>', 'model bundle folder (default: the shipped tiny bundle)')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--strict-ep', STRICT_EP_HELP)
    .option('--verbose', VERBOSE_HELP)
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--print-acks', 'print one line per committed mask on stdout: ack <clip> <object> <frame> <mask id> <counts sha1>')
    .action(async (folder: string, o: Record<string, string | boolean | undefined>) => {
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new CinesegError(ErrorCode.E_USAGE, '--concurrency must be a positive integer');
      const kind = String(o.samplePrompt);
      if (!['point', 'box', 'mask'].includes(kind)) throw new CinesegError(ErrorCode.E_USAGE, '--sample-prompt must be point, box or mask');
      const formats = String(o.format).split(',').map((f) => f.trim()) as ExportFormat[];
      for (const f of formats) if (!(EXPORT_FORMATS as readonly string[]).includes(f)) throw new CinesegError(ErrorCode.E_USAGE, `unknown format "${f}"; choose from ${EXPORT_FORMATS.join(', ')}`);
      const { createHash } = await import('node:crypto');
      const clips = await findBatchClips(folder);
      const progress = batchProgress(clips.length);
      const rows = await runBatch({
        folder,
        out: String(o.out),
        ...(o.prompts ? { prompts: String(o.prompts) } : {}),
        samplePrompt: kind as SamplePromptKind,
        ...(o.store ? { store: String(o.store) } : {}),
        concurrency,
        formats,
        ...(o.model ? { model: String(o.model) } : {}),
        ...epFlags(o),
        ...(o.threads ? { threads: Number(o.threads) } : {}),
        ...(o.printAcks
          ? {
              onCommit: (clip: string, recs: MaskRecord[]) => {
                // Printed only after the commit returned: each line is a mask the store holds.
                const lines = recs.map((r) => `ack ${clip} ${r.objectId} ${r.frame} ${r.id} ${createHash('sha1').update(r.rle.counts).digest('hex')}\n`);
                process.stdout.write(lines.join(''));
              },
            }
          : {}),
        onClipProgress: progress.clip,
        onClipEnd: progress.clipEnd,
        log: (l) => process.stderr.write(`${l}\n`),
      });
      progress.end();
      process.stdout.write(`${formatBatchTable(rows)}\n`);
      if (rows.some((r) => r.status === 'failed')) process.exitCode = 1;
    });
}
