/**
 * A site's annotations → what the trainer reads: every annotated clip decoded ONCE at the model's
 * size by the engine's own decoder (so training sees exactly the pixels tracking will see), its
 * masks resized the way `addMask` resizes a mask prompt, both written as raw uint8 files.
 *
 * Everything a user can get wrong is checked here, before a minute of training is spent: a
 * missing clip, a masks file that is not YouTube-VIS, masks whose size is not the video's,
 * annotations past the clip's end, a clip with no annotated object at all.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';
import { decodeMask, type Rle } from '../mask/rle.js';
import { readVisJson, type VisJson } from '../mask/vis-json.js';
import { maskToModel } from '../track/prompts.js';
import { approvedSessions } from '../store/session-review.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { hashFile } from '../store/session-store.js';
import { DecodedFrames } from '../track/decoded-frames.js';

/** One `--data <clip>:<masks.json>` (or a stored session, already turned into VIS JSON). */
export interface AnnotatedClipInput {
  /** Video path; when omitted, `videos[0].file` of the masks (resolved beside the masks file). */
  clip?: string;
  /** A YouTube-VIS file path, or the parsed JSON (a stored session). */
  masks: string | VisJson;
  /** Where it came from, for provenance (e.g. `session:<id>`). */
  origin?: string;
}

/** One object's ground truth in a clip. */
export interface AnnotatedObject {
  objectId: number;
  label: string;
  /** Per frame: the mask at video size (1 = object) or null (absent / not annotated). */
  masks: (Uint8Array | null)[];
}

/** A clip with its annotations, checked. */
export interface AnnotatedClip {
  name: string;
  clip: string;
  origin: string;
  width: number;
  height: number;
  numFrames: number;
  contentHash: string;
  objects: AnnotatedObject[];
  /** Frames with at least one non-empty mask. */
  annotatedFrames: number;
}

/**
 * Stored sessions as training inputs: their current masks (corrections included) as VIS JSON.
 * Without ids, every approved session (store/session-review.ts): what people marked done is what
 * a model learns from by default.
 * @throws CinesegError E_SESSION_UNKNOWN, E_INPUT_EMPTY (no ids given and none approved)
 */
export async function storedSessionInputs(store: AnnotationStore, ids?: readonly string[]): Promise<AnnotatedClipInput[]> {
  const chosen = ids && ids.length > 0 ? [...new Set(ids)] : (await approvedSessions(store)).map((s) => s.id);
  // A file by its name (as before); a database by its URL without the password.
  const where = store.kind === 'sqlite' ? basename(store.location) : store.location;
  if (chosen.length === 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `no approved session in ${where} to learn from: approve sessions first (or name them)`);
  const out: AnnotatedClipInput[] = [];
  for (const id of chosen) {
    const { clip } = await store.loadSession(id);
    // The clip is read from its stored path: on another machine than the one that tracked it, a
    // shared path (readAnnotatedClip names it when it is missing).
    out.push({ clip: clip.path, masks: await store.toVisJson(id), origin: `session:${id}` });
  }
  return out;
}

/** Parses `<clip>:<masks.json>`, or `<masks.json>` alone (the clip from videos[0].file). */
export function parseDataArg(v: string): AnnotatedClipInput {
  // Split on the last ':' before a .json ending, so Windows-free absolute paths and URLs with
  // colons in the clip part still work.
  const m = /^(.*):([^:]+\.json)$/i.exec(v);
  if (m) return { clip: m[1]!, masks: m[2]! };
  if (v.toLowerCase().endsWith('.json')) return { masks: v };
  throw new CinesegError(ErrorCode.E_USAGE, `--data "${v}": expected <clip>:<masks.json>`);
}

function fail(code: ErrorCode, msg: string, details?: Record<string, unknown>): never {
  throw new CinesegError(code, msg, details ? { details } : {});
}

/**
 * Reads and checks one annotated clip (the masks at video size; nothing decoded yet but the
 * probe). Throws a coded error naming the file for every inconsistency.
 */
export async function readAnnotatedClip(input: AnnotatedClipInput, probeSize: (clip: string) => Promise<{ width: number; height: number; numFrames: number }>): Promise<AnnotatedClip> {
  const vis = typeof input.masks === 'string' ? readVisJson(input.masks) : input.masks;
  const where = typeof input.masks === 'string' ? input.masks : (input.origin ?? 'session');
  const video = vis.videos[0]!;
  let clip = input.clip;
  if (!clip) {
    if (!video.file) fail(ErrorCode.E_USAGE, `${where}: videos[0].file is empty; give the clip as <clip>:<masks.json>`);
    clip = isAbsolute(video.file) || typeof input.masks !== 'string' ? video.file : resolve(dirname(input.masks), video.file);
  }
  if (!existsSync(clip)) fail(ErrorCode.E_INPUT_NOT_FOUND, `clip ${clip} (for ${basename(where)}) not found`);
  const info = await probeSize(clip);
  const cats = new Map((vis.categories ?? []).map((c) => [c.id, c.name]));
  const objects: AnnotatedObject[] = [];
  const annotated = new Set<number>();
  if (vis.annotations.length === 0) fail(ErrorCode.E_INPUT_EMPTY, `${where}: no annotations`);
  for (const a of vis.annotations) {
    const segs = a.segmentations ?? [];
    const lastAnnotated = segs.reduce((acc, s, i) => (s ? i : acc), -1);
    if (lastAnnotated >= info.numFrames) {
      fail(ErrorCode.E_FRAME_OUT_OF_RANGE, `${where}: object ${a.object_id} has a mask on frame ${lastAnnotated}, but ${basename(clip)} has ${info.numFrames} frames`, {
        frame: lastAnnotated,
        numFrames: info.numFrames,
      });
    }
    const masks: (Uint8Array | null)[] = new Array(info.numFrames).fill(null);
    for (let t = 0; t < segs.length; t++) {
      const s = segs[t] as Rle | null;
      if (!s) continue;
      const [h, w] = s.size;
      if (h !== info.height || w !== info.width) {
        fail(ErrorCode.E_MASK_INVALID, `${where}: object ${a.object_id} frame ${t} mask is ${w}x${h}, the video ${basename(clip)} is ${info.width}x${info.height}`);
      }
      let m: Uint8Array;
      try {
        m = decodeMask(s);
      } catch (cause) {
        throw new CinesegError(ErrorCode.E_RLE_INVALID, `${where}: object ${a.object_id} frame ${t}: ${(cause as Error).message}`, { cause });
      }
      let any = false;
      for (let i = 0; i < m.length; i++)
        if (m[i]) {
          any = true;
          break;
        }
      if (any) annotated.add(t);
      masks[t] = m;
    }
    objects.push({ objectId: a.object_id, label: cats.get(a.category_id) ?? 'object', masks });
  }
  if (annotated.size === 0) fail(ErrorCode.E_INPUT_EMPTY, `${where}: every mask is empty; nothing to learn from`);
  // The store's hash (memoised per file): a clip trained on again is not read again.
  const contentHash = await hashFile(clip);
  return {
    name: basename(dirname(clip)) === '.' ? basename(clip) : `${basename(dirname(clip))}/${basename(clip)}`,
    clip,
    origin: input.origin ?? (typeof input.masks === 'string' ? input.masks : 'session'),
    width: info.width,
    height: info.height,
    numFrames: info.numFrames,
    contentHash,
    objects,
    annotatedFrames: annotated.size,
  };
}

/** What the trainer's spec lists per clip (models/finetune/run.py reads it). */
export interface CachedClipEntry {
  name: string;
  frames: string;
  masks: string;
  numFrames: number;
  objects: number[];
  /** Per object: its category name (support windows pair objects of one category across clips). */
  labels: string[];
  /** [from, to) frames the trainer may use; the rest of the clip is validation. */
  trainFrames: [number, number];
}

function writeAll(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  return new Promise<void>((resolveP, reject) => {
    const ws = createWriteStream(path);
    ws.on('error', reject);
    void (async () => {
      try {
        for await (const c of chunks) {
          if (!ws.write(c)) await new Promise<void>((r) => ws.once('drain', () => r()));
        }
        ws.end(() => resolveP());
      } catch (e) {
        ws.destroy();
        reject(e);
      }
    })();
  });
}

/**
 * Decodes a clip at S x S into `<dir>/<i>.frames.u8` ([T, S, S, 3]) and its masks into
 * `<dir>/<i>.masks.u8` ([K, T, S, S], 0/1), T = the clip's frame count.
 */
export async function cacheClip(c: AnnotatedClip, S: number, dir: string, index: number, trainFrames: [number, number]): Promise<CachedClipEntry> {
  const framesPath = join(dir, `${index}.frames.u8`);
  const masksPath = join(dir, `${index}.masks.u8`);
  const frames = await DecodedFrames.open(c.clip, S);
  try {
    const T = Math.min(frames.numFrames, c.numFrames);
    if (T !== c.numFrames) fail(ErrorCode.E_DECODE_CORRUPT, `${c.clip}: decoded ${T} frames, the probe said ${c.numFrames}`);
    await writeAll(
      framesPath,
      (async function* () {
        for (let t = 0; t < T; t++) {
          const f = await frames.getFrame(t);
          frames.releaseBefore(t);
          yield f;
        }
      })(),
    );
  } finally {
    await frames.destroy();
  }
  const SS = S * S;
  await writeAll(
    masksPath,
    (function* () {
      for (const o of c.objects) {
        for (let t = 0; t < c.numFrames; t++) {
          const m = o.masks[t];
          if (!m) {
            yield new Uint8Array(SS);
            continue;
          }
          const f = maskToModel(m, c.width, c.height, S);
          const u = new Uint8Array(SS);
          for (let i = 0; i < SS; i++) u[i] = f[i]! > 0 ? 1 : 0;
          yield u;
        }
      }
    })(),
  );
  return { name: c.name, frames: framesPath, masks: masksPath, numFrames: c.numFrames, objects: c.objects.map((o) => o.objectId), labels: c.objects.map((o) => o.label), trainFrames };
}
