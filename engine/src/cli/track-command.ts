/**
 * `cineseg track <video> …`: prompts on frames, SAM2 propagation, YouTube-VIS JSON out.
 * The work lives in `trackVideo` so the demo command, the bench and tests run exactly what the
 * CLI runs.
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';
import { readPngMask } from '../mask/png-mask.js';
import { readVisJson, VisCollector, writeVisJson, type VisJson } from '../mask/vis-json.js';
import { defaultBundleDir, loadBundle } from '../model/bundle.js';
import { ModelSessions, type EpChoice, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import type { SupportMemoryOptions } from '../track/memory-bank.js';
import type { Box, Point } from '../track/prompts.js';
import { DEFAULT_SUPPORT_FRAMES, type SupportSpec } from '../track/support-set.js';
import { VideoTracker, type TrackedFrame } from '../track/video-tracker.js';
import { DecodedFrames } from '../track/decoded-frames.js';
import { LogitLabelMaps, type LabelPlan } from '../export/label-map.js';
import { applyObjectLabels, parseObjectLabels } from '../export/object-labels.js';
import { exportNifti } from '../export/nifti.js';
import { exportPng } from '../export/png.js';
import { maskVolumePrompts, withVolumeView } from '../source/volume-slices.js';
import { checkOutputPath } from './output-path.js';
import { epFlags, EP_HELP, STRICT_EP_HELP, VERBOSE_HELP } from './ep-options.js';

/** One prompt as given on the command line, in video pixels. */
export type CliPrompt =
  | { kind: 'point'; objectId: number; frame: number; point: Point }
  | { kind: 'box'; objectId: number; frame: number; box: Box }
  | { kind: 'mask'; objectId: number; frame: number; path: string; /** In-memory mask at video size (a label volume's slice) instead of the PNG. */ data?: Uint8Array };

export interface TrackVideoOptions {
  video: string;
  /** Bundle folder (default: the shipped tiny bundle). */
  model?: string;
  prompts: CliPrompt[];
  /**
   * Support set: annotated frames of other clips of the same view (support-set.ts). Annotation
   * object id k supports object k here; with support, prompts are optional.
   */
  support?: SupportSpec[];
  /** Support frames per support clip and object (default DEFAULT_SUPPORT_FRAMES). */
  supportFrames?: number;
  /** Also file each support frame mirrored left-right (default DEFAULT_SUPPORT_MIRROR). */
  supportMirror?: boolean;
  /** How support memories enter attention (default DEFAULT_SUPPORT_MEMORY; for experiments). */
  supportMemory?: Partial<SupportMemoryOptions>;
  reverse?: boolean;
  both?: boolean;
  /** SAM2's max_frame_num_to_track. */
  maxFrames?: number;
  memory?: boolean;
  /** SAM2's add_all_frames_to_correct_as_cond (EngineOptions; default true, Meta's false). */
  addAllFramesToCorrectAsCond?: boolean;
  /** SAM2's non_overlap_masks: disjoint output masks (EngineOptions; default false, as Meta's). */
  nonOverlapMasks?: boolean;
  /** SAM2's non_overlap_masks_for_mem_enc (EngineOptions; default false, as Meta's). */
  nonOverlapMasksForMemEnc?: boolean;
  /**
   * Also write label maps (PNG sequence folder or NIfTI file) straight from the run's logits:
   * overlaps go to the object with the highest logit per pixel (label-map.ts), which a later
   * `cineseg export` of the VIS file can only approximate by per-frame score.
   */
  labelMap?: { format: 'png' | 'nifti'; out: string };
  /** Volume inputs: a label volume in the same grid; each labelled slice is a mask prompt for object <label value>. */
  maskVolume?: string;
  /** Volume inputs: the plane (axial, coronal, sagittal) and window (preset, `c,w` or auto) shown. */
  plane?: string;
  window?: string;
  /** Object id → category name (`--label`, export/object-labels.ts); unnamed objects are `object`. */
  labels?: ReadonlyMap<number, string>;
  ep?: ExecutionProviderRequest;
  /** No fallback from `ep` (E_EP_UNAVAILABLE); onnxruntime's warnings shown (see ep-options.ts). */
  strictEp?: boolean;
  verbose?: boolean;
  threads?: number;
  /** Output path; when omitted the JSON is only returned. */
  out?: string;
  log?: (line: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Reuse sessions (bench, demo); they are not released then. */
  sessions?: ModelSessions;
}

export interface TrackVideoResult {
  json: VisJson;
  ep: EpChoice;
  framesVisited: number;
  objects: number;
  /** Seconds from the first prompt to the last mask written (model loading excluded). */
  trackSeconds: number;
  /** Frames visited per second of `trackSeconds`. */
  fps: number;
  loadSeconds: number;
}

/** Parses `<frame>:<rest>`. */
function frameAndRest(v: string, what: string): [number, string] {
  const i = v.indexOf(':');
  const f = i > 0 ? Number(v.slice(0, i)) : NaN;
  if (!Number.isInteger(f) || f < 0) throw new CinesegError(ErrorCode.E_USAGE, `${what} "${v}": expected <frame>:…`);
  return [f, v.slice(i + 1)];
}

function numbers(s: string, n: number[], what: string): number[] {
  const parts = s.split(',').map((x) => Number(x.trim()));
  if (!n.includes(parts.length) || parts.some((x) => !Number.isFinite(x))) {
    throw new CinesegError(ErrorCode.E_USAGE, `${what} "${s}": expected ${n.join(' or ')} comma-separated numbers`);
  }
  return parts;
}

/** Parses one `--point` value. */
export function parsePoint(v: string, objectId: number): CliPrompt {
  const [frame, rest] = frameAndRest(v, '--point');
  const [x, y, label] = numbers(rest, [2, 3], '--point') as [number, number, number | undefined];
  if (label !== undefined && label !== 0 && label !== 1) throw new CinesegError(ErrorCode.E_USAGE, `--point "${v}": label must be 1 (positive) or 0 (negative)`);
  return { kind: 'point', objectId, frame, point: { x, y, label: label ?? 1 } };
}

/** Parses one `--box` value. */
export function parseBox(v: string, objectId: number): CliPrompt {
  const [frame, rest] = frameAndRest(v, '--box');
  const b = numbers(rest, [4], '--box') as Box;
  return { kind: 'box', objectId, frame, box: b };
}

/** Parses one `--mask` value. */
export function parseMask(v: string, objectId: number, cwd = process.cwd()): CliPrompt {
  const [frame, rest] = frameAndRest(v, '--mask');
  if (!rest) throw new CinesegError(ErrorCode.E_USAGE, `--mask "${v}": expected <frame>:<png>`);
  return { kind: 'mask', objectId, frame, path: resolve(cwd, rest) };
}

/**
 * Tracks the prompted objects through a video and builds the YouTube-VIS JSON (written to
 * `opts.out` when given). Prompts are grouped per object and frame: a box and clicks on the same
 * frame become one prompt (box first); a mask replaces clicks.
 */
export async function trackVideo(opts: TrackVideoOptions): Promise<TrackVideoResult> {
  const log = opts.log ?? (() => undefined);
  const support = opts.support ?? [];
  const video = withVolumeView(opts.video, opts.plane, opts.window);
  if (opts.maskVolume) {
    const vp = maskVolumePrompts(video, opts.maskVolume);
    log(`mask volume: ${vp.length} slice prompt(s) for object(s) ${[...new Set(vp.map((p) => p.objectId))].join(', ')}`);
    opts = { ...opts, prompts: [...opts.prompts, ...vp.map((p) => ({ kind: 'mask' as const, ...p, path: `${opts.maskVolume}#${p.frame}`, data: p.mask }))] };
  }
  if (opts.prompts.length === 0 && support.length === 0) throw new CinesegError(ErrorCode.E_USAGE, 'give at least one --point, --box or --mask (or --support)');
  const t0 = performance.now();
  // The manifest (a bad one fails here) gives the model's size; the video is opened before the
  // graphs load, so a bad clip is refused in a fraction of a second, not after model loading.
  const bundle = opts.sessions?.bundle ?? loadBundle(opts.model ?? defaultBundleDir());
  let ownSessions: ModelSessions | null = null;
  let frames: DecodedFrames | null = null;
  let tracker: VideoTracker | null = null;
  try {
    frames = await DecodedFrames.open(video, bundle.imageSize);
    const sessions =
      opts.sessions ??
      (ownSessions = await ModelSessions.create(bundle, {
        ep: opts.ep ?? 'auto',
        ...(opts.strictEp ? { strictEp: true } : {}),
        ...(opts.verbose ? { verbose: true } : {}),
        log,
        ...(opts.threads ? { threads: opts.threads } : {}),
      }));
    const info = frames.info;
    const n = frames.numFrames;
    const loadSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    tracker = new VideoTracker(sessions, frames, {
      width: info.width,
      height: info.height,
      memory: opts.memory ?? true,
      ...(opts.supportMemory ? { supportMemory: opts.supportMemory } : {}),
      ...(opts.addAllFramesToCorrectAsCond === undefined ? {} : { addAllFramesToCorrectAsCond: opts.addAllFramesToCorrectAsCond }),
      ...(opts.nonOverlapMasks === undefined ? {} : { nonOverlapMasks: opts.nonOverlapMasks }),
      ...(opts.nonOverlapMasksForMemEnc === undefined ? {} : { nonOverlapMasksForMemEnc: opts.nonOverlapMasksForMemEnc }),
    });
    if (support.length) {
      const mems = await tracker.addSupport(support, {
        ...(opts.supportFrames === undefined ? {} : { framesPerObject: opts.supportFrames }),
        ...(opts.supportMirror === undefined ? {} : { mirror: opts.supportMirror }),
      });
      log(`support: ${mems.length} memories (${[...new Set(mems.map((m) => m.objectId))].map((id) => `object ${id}: ${mems.filter((m) => m.objectId === id).length}`).join(', ')})`);
    }

    // Group prompts per (object, frame), keeping first-appearance order.
    const groups = new Map<string, { objectId: number; frame: number; points: Point[]; box?: Box; mask?: string; data?: Uint8Array }>();
    for (const p of opts.prompts) {
      if (p.frame >= n) {
        throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `prompt on frame ${p.frame}, but the video has ${n} frames`, {
          details: { frame: p.frame, numFrames: n },
        });
      }
      const k = `${p.objectId}:${p.frame}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { objectId: p.objectId, frame: p.frame, points: [] }));
      if (p.kind === 'point') g.points.push(p.point);
      else if (p.kind === 'box') {
        if (g.box) throw new CinesegError(ErrorCode.E_USAGE, `object ${p.objectId} has two boxes on frame ${p.frame}`);
        g.box = p.box;
      } else {
        if (g.mask) throw new CinesegError(ErrorCode.E_USAGE, `object ${p.objectId} has two masks on frame ${p.frame}`);
        g.mask = p.path;
        if (p.data) g.data = p.data;
      }
    }
    for (const g of groups.values()) {
      if (g.mask) {
        if (g.points.length || g.box) {
          throw new CinesegError(ErrorCode.E_USAGE, `object ${g.objectId} frame ${g.frame}: a mask cannot be combined with points or a box`);
        }
        const m = g.data ? { width: info.width, height: info.height, mask: g.data } : readPngMask(g.mask);
        if (m.width !== info.width || m.height !== info.height) {
          throw new CinesegError(ErrorCode.E_MASK_INVALID, `${g.mask} is ${m.width}x${m.height}, the video is ${info.width}x${info.height}`);
        }
        await tracker.addMask(g.frame, g.objectId, m.mask);
      } else {
        await tracker.addPoints(g.frame, g.objectId, g.points, g.box ? { box: g.box } : {});
      }
    }

    const collector = new VisCollector({ id: 1, width: info.width, height: info.height, length: n, fps: info.fps, file: video });
    const L = sessions.bundle.lowResMaskSize;
    const visited = new Set<number>();
    const labelMaps = opts.labelMap ? new LogitLabelMaps(info.width, info.height) : null;
    const total = opts.both ? n : n; // upper bound for the progress bar
    // One forward pass never revisits a frame, so its pixels can go once tracked.
    const singleForward = !opts.both && !opts.reverse;
    const consume = async (it: AsyncGenerator<TrackedFrame>) => {
      for await (const tf of it) {
        if (singleForward) frames!.releaseBefore(tf.frame);
        visited.add(tf.frame);
        for (const o of tf.objects) collector.add(tf.frame, o.objectId, o.output.predMasks, L, o.output.objectScore);
        labelMaps?.add(
          tf.frame,
          tf.objects.map((o) => ({ objectId: o.objectId, predMasks: o.output.predMasks })),
          L,
        );
        opts.onProgress?.(visited.size, total);
      }
    };
    const maxOpt = opts.maxFrames === undefined ? {} : { maxFrameNumToTrack: opts.maxFrames };
    if (opts.both) {
      // The reverse pass starts where the forward one did (a support-only object would
      // otherwise start the reverse pass at the last frame and redo the whole video).
      let first: number | undefined;
      const forward = tracker.propagate({ ...maxOpt });
      await consume(
        (async function* () {
          for await (const tf of forward) {
            first ??= tf.frame;
            yield tf;
          }
        })(),
      );
      await consume(tracker.propagate({ ...maxOpt, reverse: true, ...(first === undefined ? {} : { startFrame: first }) }));
    } else {
      await consume(tracker.propagate({ ...maxOpt, reverse: opts.reverse ?? false, dropStaleMemory: true }));
    }
    const trackSeconds = (performance.now() - t1) / 1000;
    const json0 = collector.toJson({
      tool: 'cineseg track',
      model: sessions.bundle.name,
      executionProvider: sessions.ep.ep,
      memory: opts.memory ?? true,
      addAllFramesToCorrectAsCond: tracker.engine.addAllFramesToCorrectAsCond,
      nonOverlapMasks: tracker.engine.nonOverlapMasks,
      nonOverlapMasksForMemEnc: tracker.engine.nonOverlapMasksForMemEnc,
    });
    const json = opts.labels ? applyObjectLabels(json0, opts.labels) : json0;
    if (opts.out) writeVisJson(opts.out, json);
    if (opts.labelMap && labelMaps) {
      const labels = (plan: LabelPlan) => labelMaps.labeler(plan);
      if (opts.labelMap.format === 'png') exportPng(json, opts.labelMap.out, { labels });
      else exportNifti(json, opts.labelMap.out, { labels });
    }
    const objects = tracker.objectIds.length;
    return {
      json,
      ep: sessions.ep,
      framesVisited: visited.size,
      objects,
      trackSeconds,
      fps: visited.size / Math.max(trackSeconds, 1e-9),
      loadSeconds,
    };
  } finally {
    tracker?.destroy();
    await frames?.destroy();
    await ownSessions?.destroy();
  }
}

/** A one-line progress bar (cli-progress) on stderr, only when it is a terminal. */
export function progressBar(label: string, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): { update: (done: number, total: number) => void; end: () => void } {
  if (!stream.isTTY) return { update: () => undefined, end: () => undefined };
  // hideCursor off: a command killed mid-run must not leave the user's terminal without a cursor.
  const bar = new SingleBar({ stream, format: `${label} [{bar}] {value}/{total}`, barsize: 30, barCompleteChar: '#', barIncompleteChar: '.', hideCursor: false, fps: 10 });
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        started = true;
        bar.start(total, done);
        return;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    end() {
      if (started) bar.stop();
    },
  };
}

export function registerTrack(program: Command): void {
  // Commander calls option parsers in command-line order, so one list records the order of
  // --object and the prompts it applies to.
  const events: { kind: 'object' | 'point' | 'box' | 'mask'; value: string }[] = [];
  const record = (kind: (typeof events)[number]['kind']) => (value: string) => {
    events.push({ kind, value });
    return value;
  };
  program
    .command('track')
    .description('track objects through a video from clicks, boxes or masks; writes YouTube-VIS JSON with COCO RLE masks')
    .argument('<video>', 'video file, image folder, or volume (.nii, .nii.gz, DICOM series folder; optionally <path>#<plane>[:<window>])')
    .option('--model <bundle>', 'model bundle folder (default: the shipped tiny bundle)')
    .option('--point <frame:x,y[,label]>', 'a click in video pixels; label 1 positive (default) or 0 negative (repeatable)', record('point'))
    .option('--box <frame:x0,y0,x1,y1>', 'a box in video pixels (repeatable)', record('box'))
    .option('--mask <frame:png>', 'a mask PNG at video size, nonzero = object (repeatable)', record('mask'))
    .option('--object <id>', 'object the following prompts belong to (default 1)', record('object'))
    .option('--label <name|id=name>', "an object's category in the output (repeatable: one per object in prompt order, or <object id>=<name>)", (v: string, prev: string[] = []) => [...prev, v])
    .option(
      '--support <clip:masks.json>',
      'zero-click support: an annotated clip of the same view (YouTube-VIS JSON); its object id k supports object k here (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--support-frames <n>', `support frames per support clip and object (default ${DEFAULT_SUPPORT_FRAMES})`)
    .option('--no-support-mirror', 'file support frames as they are only (default: each also mirrored left-right, which finds objects by look rather than by place)')
    .option('--support-by <id|category>', 'match support objects to objects here by object id, or pool them by category (object id = category id)', 'id')
    .option('--support-object <id[=target]>', 'use only this object id of the support masks, optionally as another target object id (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--reverse', 'track backwards from the first prompted frame')
    .option('--both', 'track forwards, then backwards')
    .option('--max-frames <n>', 'track at most n frames past the start frame (SAM2 max_frame_num_to_track)')
    .option('--no-memory', 'ablation: decode every frame without memory attention')
    .option(
      '--add-all-frames-to-correct-as-cond <true|false>',
      "SAM2 add_all_frames_to_correct_as_cond: a correction on an already tracked frame becomes a conditioning frame (default true; Meta's default false). Prompts given here all precede tracking, so it only matters for later corrections",
    )
    .option('--non-overlap-masks', "SAM2 non_overlap_masks: each pixel goes to at most one object, the one with the highest logit (output masks only; Meta's default off, as here)")
    .option('--non-overlap-masks-for-mem-enc', "SAM2 non_overlap_masks_for_mem_enc: the same rule on the masks fed to the memory encoder (Meta's default off, as here)")
    .option('--mask-volume <labels.nii.gz>', 'volume inputs: a label volume in the same grid; every labelled slice becomes a mask prompt of object <label value>')
    .option('--plane <axial|coronal|sagittal>', 'volume inputs: the plane whose slices are the frames (default axial)')
    .option('--window <name|c,w|auto>', 'volume inputs: window of the slices: soft-tissue (CT default), lung, bone, brain, <centre>,<width> or auto (MR default)')
    .option('--label-map <png|nifti:path>', 'also write label maps whose overlaps are decided by logits: png:<folder> or nifti:<file.nii[.gz]>')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--strict-ep', STRICT_EP_HELP)
    .option('--verbose', VERBOSE_HELP)
    .option('--threads <n>', 'onnxruntime intra-op threads (default: onnxruntime decides)')
    .requiredOption('--out <masks.json>', 'output file')
    .action(async (video: string, o: Record<string, unknown>) => {
      checkOutputPath(String(o.out), '--out');
      const prompts = promptsFromEvents(events);
      const labels = parseObjectLabels((o.label as string[] | undefined) ?? [], [...new Set(prompts.map((p) => p.objectId))]);
      const maxFrames = o.maxFrames === undefined ? undefined : Number(o.maxFrames);
      if (maxFrames !== undefined && (!Number.isInteger(maxFrames) || maxFrames < 0)) {
        throw new CinesegError(ErrorCode.E_USAGE, '--max-frames must be a non-negative integer');
      }
      const threads = o.threads === undefined ? undefined : Number(o.threads);
      if (o.supportBy !== 'id' && o.supportBy !== 'category') throw new CinesegError(ErrorCode.E_USAGE, `--support-by must be id or category, got "${String(o.supportBy)}"`);
      const byId = supportFromOptions(o.support as string[] | undefined, o.supportObject as string[] | undefined);
      const support = o.supportBy === 'category' ? poolSupportByCategory(byId) : byId;
      const supportFrames = o.supportFrames === undefined ? undefined : Number(o.supportFrames);
      if (supportFrames !== undefined && (!Number.isInteger(supportFrames) || supportFrames < 1)) {
        throw new CinesegError(ErrorCode.E_USAGE, '--support-frames must be a positive integer');
      }
      if (!support.length && (supportFrames !== undefined || o.supportObject !== undefined || o.supportMirror === false)) {
        throw new CinesegError(ErrorCode.E_USAGE, '--support-frames, --support-object and --no-support-mirror need --support');
      }
      const addAll = parseBoolOption(o.addAllFramesToCorrectAsCond, '--add-all-frames-to-correct-as-cond');
      const labelMap = o.labelMap === undefined ? undefined : parseLabelMapOption(String(o.labelMap));
      const bar = progressBar('tracking');
      const res = await trackVideo({
        video,
        ...(o.model ? { model: String(o.model) } : {}),
        prompts,
        support,
        ...(supportFrames === undefined ? {} : { supportFrames }),
        ...(o.supportMirror === false ? { supportMirror: false } : {}),
        reverse: Boolean(o.reverse),
        both: Boolean(o.both),
        ...(maxFrames === undefined ? {} : { maxFrames }),
        memory: o.memory !== false,
        ...(addAll === undefined ? {} : { addAllFramesToCorrectAsCond: addAll }),
        ...(o.nonOverlapMasks ? { nonOverlapMasks: true } : {}),
        ...(o.nonOverlapMasksForMemEnc ? { nonOverlapMasksForMemEnc: true } : {}),
        ...(labelMap ? { labelMap } : {}),
        ...(o.maskVolume ? { maskVolume: resolve(String(o.maskVolume)) } : {}),
        ...(o.plane ? { plane: String(o.plane) } : {}),
        ...(o.window ? { window: String(o.window) } : {}),
        ...(labels.size ? { labels } : {}),
        ...epFlags(o),
        ...(threads ? { threads } : {}),
        out: String(o.out),
        log: (l) => process.stderr.write(`${l}\n`),
        onProgress: bar.update,
      });
      bar.end();
      process.stdout.write(
        `tracked ${res.objects} object(s) over ${res.framesVisited} frames in ${res.trackSeconds.toFixed(2)} s: ` +
          `${res.fps.toFixed(1)} fps on ${res.ep.ep}${res.ep.reason ? ` (asked for ${res.ep.requested}: ${res.ep.reason})` : ''}; wrote ${String(o.out)}\n`,
      );
    });
}

/**
 * Parses `--support <clip>:<masks.json>` values (split at the last ':', so the clip path may hold
 * one) and applies `--support-object` ids to every support clip.
 */
/**
 * `--support-by category`: a new clip's objects have no ids yet, so "find the polyp" is the
 * question: every support object becomes target object <its category id>, and objects of one
 * category from several clips pool their memories.
 */
export function poolSupportByCategory(specs: readonly SupportSpec[]): SupportSpec[] {
  return specs.map((s) => {
    const vis = typeof s.masks === 'string' ? readVisJson(s.masks) : s.masks;
    const mapIds: Record<number, number> = {};
    for (const a of vis.annotations) mapIds[a.object_id] = a.category_id;
    return { ...s, masks: vis, mapIds: { ...mapIds, ...(s.mapIds ?? {}) } };
  });
}

export function supportFromOptions(values: readonly string[] | undefined, objectIds: readonly string[] | undefined, cwd = process.cwd()): SupportSpec[] {
  let ids: number[] | undefined;
  let mapIds: Record<number, number> | undefined;
  const id = (v: string, whole: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new CinesegError(ErrorCode.E_USAGE, `--support-object "${whole}": expected <id> or <id>=<target id>, non-negative integers`);
    return n;
  };
  for (const v of objectIds ?? []) {
    const [a, b, ...rest] = v.split('=');
    if (rest.length) id('', v);
    (ids ??= []).push(id(a!, v));
    if (b !== undefined) (mapIds ??= {})[id(a!, v)] = id(b, v);
  }
  return (values ?? []).map((v) => {
    const i = v.lastIndexOf(':');
    if (i <= 0 || i === v.length - 1) throw new CinesegError(ErrorCode.E_USAGE, `--support "${v}": expected <clip>:<masks.json>`);
    return { clip: resolve(cwd, v.slice(0, i)), masks: resolve(cwd, v.slice(i + 1)), ...(ids ? { objectIds: ids } : {}), ...(mapIds ? { mapIds } : {}) };
  });
}

/** Parses a `<true|false>` option value (undefined when not given). */
export function parseBoolOption(v: unknown, name: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new CinesegError(ErrorCode.E_USAGE, `${name} must be true or false, got "${String(v)}"`);
}

/** Parses `--label-map png:<folder>` / `nifti:<file>`. */
export function parseLabelMapOption(v: string, cwd = process.cwd()): { format: 'png' | 'nifti'; out: string } {
  const i = v.indexOf(':');
  const format = v.slice(0, i);
  if (i <= 0 || i === v.length - 1 || (format !== 'png' && format !== 'nifti')) {
    throw new CinesegError(ErrorCode.E_USAGE, `--label-map "${v}": expected png:<folder> or nifti:<file.nii[.gz]>`);
  }
  return { format, out: resolve(cwd, v.slice(i + 1)) };
}

/** Turns the ordered option events into prompts, each owned by the latest --object before it. */
export function promptsFromEvents(events: readonly { kind: string; value: string }[]): CliPrompt[] {
  let objectId = 1;
  const prompts: CliPrompt[] = [];
  for (const e of events) {
    if (e.kind === 'object') {
      const id = Number(e.value);
      if (!Number.isInteger(id) || id < 0) throw new CinesegError(ErrorCode.E_USAGE, `--object must be a non-negative integer, got "${e.value}"`);
      objectId = id;
    } else if (e.kind === 'point') prompts.push(parsePoint(e.value, objectId));
    else if (e.kind === 'box') prompts.push(parseBox(e.value, objectId));
    else if (e.kind === 'mask') prompts.push(parseMask(e.value, objectId));
  }
  return prompts;
}
