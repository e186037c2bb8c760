/**
 * Renders one synthetic clip to disk: clip.mp4 (H.264, crf 16), gt.json (YouTube-VIS style with
 * compressed COCO RLE per frame), prompts.json and the prompt-frame masks as PNG.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeMaskCompressed, encodeRgbFrames, rleArea, rleToBbox, type CocoBbox, type CompressedRle } from 'cineseg';
import { createEndoscopyScene } from './endoscopy.js';
import { encodeGrayPng } from './png.js';
import { promptFromMask } from './prompts.js';
import { defaultFrameCount, GENERATOR_VERSION, type ClipKind, type ClipSpec, type Scene } from './scene.js';
import { isDefaultSite, siteFor } from './sites.js';
import { createUltrasoundScene } from './ultrasound.js';

export const DEFAULT_WIDTH = 480;
export const DEFAULT_HEIGHT = 360;
export const DEFAULT_FPS = 30;
export const ENCODE_CRF = 16;

/** Builds the scene for a spec (no rendering happens until frames are asked for). */
export function createScene(spec: ClipSpec): Scene {
  if (spec.width < 64 || spec.height < 64 || spec.width % 2 || spec.height % 2) {
    throw new RangeError(`clip size must be even and at least 64x64, got ${spec.width}x${spec.height}`);
  }
  if (spec.frames !== undefined && (!Number.isInteger(spec.frames) || spec.frames < 1)) {
    throw new RangeError(`frame count must be a positive integer, got ${spec.frames}`);
  }
  siteFor(spec.site); // an unknown site fails here, naming the known ones
  return spec.kind === 'ultrasound' ? createUltrasoundScene(spec) : createEndoscopyScene(spec);
}

/** One object's track in gt.json: a compressed RLE (or null when absent) per frame. */
export interface GtAnnotation {
  id: number;
  video_id: number;
  object_id: number;
  category_id: number;
  iscrowd: 0;
  height: number;
  width: number;
  length: number;
  segmentations: Array<CompressedRle | null>;
  areas: Array<number | null>;
  bboxes: Array<CocoBbox | null>;
}

export interface GtFile {
  info: {
    generator: 'cineseg-samples';
    version: string;
    kind: ClipKind;
    seed: number;
    raw_sha256: string;
    /** Only when the clip was asked for with a non-default exit rate (training data). */
    exit_rate?: number;
    /** Frames [start, end) where an object is present and labelled but faded (hard frames). */
    dropouts: Array<{ object_id: number; start: number; end: number }>;
  };
  /** `site` only for a non-default site (sites.ts); default clips keep the fields they always had. */
  videos: Array<{ id: number; width: number; height: number; length: number; fps: number; file: string; kind: ClipKind; seed: number; site?: string }>;
  categories: Array<{ id: number; name: string; supercategory: string }>;
  annotations: GtAnnotation[];
}

export interface PromptEntry {
  object_id: number;
  category_id: number;
  frame: number;
  point: [number, number];
  box: [number, number, number, number];
  mask: string;
  area: number;
  args: { point: string[]; box: string[]; mask: string[] };
}

export interface PromptsFile {
  video: string;
  width: number;
  height: number;
  fps: number;
  length: number;
  objects: PromptEntry[];
}

export interface ClipResult {
  dir: string;
  skipped: boolean;
  frames: number;
  ms: number;
}

export interface WriteClipOptions {
  /** Leave a clip alone when its files exist and were made by this generator version with this spec. */
  skipExisting?: boolean;
  /**
   * Also write the uncompressed frames as frames.u8 (frames * height * width * 3 bytes, rgb24)
   * and the masks as masks.u8 (frames * objects * height * width bytes, 0/1), for training code
   * that wants neither a video decoder nor an RLE decoder.
   */
  raw?: boolean;
}

/**
 * Directory name of a clip inside the output folder: `<kind>-<seed>`, or `<kind>-<site>-<seed>`
 * for a non-default site (kind first and seed last, so `name.split('-')[0]` is the kind and the
 * text after the last '-' is the seed either way).
 */
export function clipDirName(kind: ClipKind, seed: number, site?: string): string {
  return isDefaultSite(site) ? `${kind}-${seed}` : `${kind}-${site}-${seed}`;
}

let stageCounter = 0;

function isUpToDate(dir: string, spec: ClipSpec, raw: boolean): boolean {
  const files = ['clip.mp4', 'gt.json', 'prompts.json', ...(raw ? ['frames.u8', 'masks.u8'] : [])];
  if (!files.every((f) => existsSync(join(dir, f)))) return false;
  try {
    const gt = JSON.parse(readFileSync(join(dir, 'gt.json'), 'utf8')) as GtFile;
    const v = gt.videos[0];
    return (
      gt.info.version === GENERATOR_VERSION &&
      v !== undefined &&
      v.width === spec.width &&
      v.height === spec.height &&
      v.fps === spec.fps &&
      v.length === (spec.frames ?? defaultFrameCount(spec.kind, spec.seed)) &&
      gt.info.exit_rate === spec.exitRate &&
      v.site === (isDefaultSite(spec.site) ? undefined : spec.site)
    );
  } catch {
    return false;
  }
}

/**
 * Renders the clip for `spec` into `<outRoot>/<clipDirName>/`. Files are written under a temporary
 * name and renamed at the end, so an interrupted run never leaves a clip that looks complete.
 */
export async function writeClip(spec: ClipSpec, outRoot: string, options: WriteClipOptions = {}): Promise<ClipResult> {
  const t0 = performance.now();
  const dir = join(outRoot, clipDirName(spec.kind, spec.seed, spec.site));
  if ((options.skipExisting ?? true) && isUpToDate(dir, spec, options.raw ?? false)) {
    const gt = JSON.parse(readFileSync(join(dir, 'gt.json'), 'utf8')) as GtFile;
    return { dir, skipped: true, frames: gt.videos[0]!.length, ms: performance.now() - t0 };
  }
  const scene = createScene(spec);
  const { width: W, height: H, frames } = scene.spec;
  mkdirSync(dir, { recursive: true });
  // Everything is written into a private staging folder and renamed into place, so a reader (or
  // a second test run regenerating the same clip at the same time) only ever sees whole files.
  // Concurrent writers produce identical bytes, so whichever rename lands last is fine.
  const stage = join(dir, `.stage-${process.pid}-${++stageCounter}`);
  mkdirSync(stage, { recursive: true });
  try {
    const segs = scene.objects.map(() => new Array<CompressedRle | null>(frames).fill(null));
    const promptMasks: Array<Uint8Array | null> = scene.objects.map(() => null);
    const hash = createHash('sha256');
    const rawParts: Uint8Array[] = [];
    const maskParts: Uint8Array[] = [];
    function* frameStream(): Generator<Uint8Array> {
      for (let t = 0; t < frames; t++) {
        const f = scene.renderFrame(t);
        hash.update(f.rgb);
        if (options.raw) {
          rawParts.push(f.rgb);
          maskParts.push(...f.masks);
        }
        f.masks.forEach((m, k) => {
          const rle = encodeMaskCompressed(m, H, W);
          segs[k]![t] = rleArea(rle) > 0 ? rle : null;
          if (t === scene.promptFrame) promptMasks[k] = m;
        });
        yield f.rgb;
      }
    }
    const tmpVideo = join(stage, 'clip.mp4');
    await encodeRgbFrames(frameStream(), { width: W, height: H, fps: spec.fps, output: tmpVideo, crf: ENCODE_CRF });
    const rawSha = hash.digest('hex');

    const gt: GtFile = {
      info: {
        generator: 'cineseg-samples',
        version: GENERATOR_VERSION,
        kind: spec.kind,
        seed: spec.seed,
        raw_sha256: rawSha,
        ...(spec.exitRate === undefined ? {} : { exit_rate: spec.exitRate }),
        dropouts: scene.dropouts.map((d) => ({ object_id: d.objectId, start: d.start, end: d.end })),
      },
      videos: [
        {
          id: 1,
          width: W,
          height: H,
          length: frames,
          fps: spec.fps,
          file: 'clip.mp4',
          kind: spec.kind,
          seed: spec.seed,
          ...(isDefaultSite(spec.site) ? {} : { site: spec.site }),
        },
      ],
      categories: scene.categories.map((c) => ({ ...c })),
      annotations: scene.objects.map((o, k) => ({
        id: o.id,
        video_id: 1,
        object_id: o.id,
        category_id: o.categoryId,
        iscrowd: 0,
        height: H,
        width: W,
        length: frames,
        segmentations: segs[k]!,
        areas: segs[k]!.map((s) => (s ? rleArea(s) : null)),
        bboxes: segs[k]!.map((s) => (s ? rleToBbox(s) : null)),
      })),
    };

    const prompts: PromptsFile = { video: 'clip.mp4', width: W, height: H, fps: spec.fps, length: frames, objects: [] };
    const f = scene.promptFrame;
    scene.objects.forEach((o, k) => {
      const mask = promptMasks[k]!;
      const p = promptFromMask(mask, W, H);
      if (!p) throw new Error(`${spec.kind} seed ${spec.seed}: object ${o.id} is not visible on the prompt frame`);
      const png = `mask-obj${o.id}-f${f}.png`;
      const gray = new Uint8Array(W * H);
      for (let i = 0; i < gray.length; i++) gray[i] = mask[i] ? 255 : 0;
      writeFileSync(join(stage, png), encodeGrayPng(gray, W, H));
      prompts.objects.push({
        object_id: o.id,
        category_id: o.categoryId,
        frame: f,
        point: p.point,
        box: p.box,
        mask: png,
        area: p.area,
        args: {
          point: ['--point', `${f}:${p.point[0]},${p.point[1]}`],
          box: ['--box', `${f}:${p.box.join(',')}`],
          mask: ['--mask', `${f}:${png}`],
        },
      });
    });

    if (options.raw) {
      writeFileSync(join(stage, 'frames.u8'), Buffer.concat(rawParts));
      writeFileSync(join(stage, 'masks.u8'), Buffer.concat(maskParts));
    }
    writeFileSync(join(stage, 'prompts.json'), JSON.stringify(prompts, null, 2) + '\n');
    writeFileSync(join(stage, 'gt.json'), JSON.stringify(gt) + '\n');
    // gt.json last: its presence (with the right version) is what marks the clip complete.
    const names = readdirSync(stage).filter((f) => f !== 'gt.json');
    for (const f of [...names, 'gt.json']) renameSync(join(stage, f), join(dir, f));
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return { dir, skipped: false, frames, ms: performance.now() - t0 };
}
