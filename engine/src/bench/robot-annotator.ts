/**
 * Annotation-effort bench: a robot annotator in the manner of the DAVIS interactive benchmark
 * (Caelles et al. 2018), measuring how many clicks a user would need to bring every frame of an
 * object to J ≥ 0.85. It drives the real VideoTracker (the API the server uses), so what it
 * measures is the product, not a re-implementation of it:
 * 1. one positive click on the object's first GT frame, at the interior point farthest from the
 *    GT boundary; propagate over the clip;
 * 2. on the worst frame (lowest J), one corrective click at the point farthest from the boundary
 *    of the larger of the largest missed region (GT & !pred: positive click) and the largest
 *    false-positive region (pred & !GT: negative click), appended to that frame's clicks as SAM2
 *    does; re-propagate from the earliest prompt (SAM2 semantics: a later conditioning frame
 *    changes earlier frames too, through memory attention);
 * 3. stop when every frame has J ≥ targetJ or after maxClicks.
 * Each correction also records J on its frame before → after the click and the mean J of the
 * next frames before → after re-propagation: whether a click (a negative one on a leak above
 * all) reaches the frames it should.
 */
import { performance } from 'node:perf_hooks';
import { CinesegError, ErrorCode } from '../errors.js';
import { farthestInteriorPoint, largestRegion } from '../mask/distance-transform.js';
import { boundaryF, jaccard } from '../mask/metrics.js';
import { decodeMask, encodeMaskCompressed, type CompressedRle } from '../mask/rle.js';
import { readVisJson, type VisJson } from '../mask/vis-json.js';
import { loadBundle } from '../model/bundle.js';
import { defaultBundleDir } from '../paths.js';
import { ModelSessions, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import { VideoTracker } from '../track/video-tracker.js';
import { DecodedFrames } from '../track/decoded-frames.js';

export interface RobotOptions {
  video: string;
  /** Ground truth: a YouTube-VIS file (the samples' gt.json) or its parsed JSON. */
  gt: string | VisJson;
  objectId: number;
  /** Bundle folder, used when `sessions` is not given (default: the shipped bundle). */
  bundleDir?: string;
  /** Sessions to reuse (bench, comparisons); they are not released. */
  sessions?: ModelSessions;
  maxClicks?: number;
  /** Per-frame J every frame must reach (default 0.85). */
  targetJ?: number;
  /** Use only the first N frames of the clip (tests, quick runs). */
  maxFrames?: number;
  /** Frames after a corrected frame whose mean J is reported (default 10). */
  followFrames?: number;
  /**
   * Frames whose image features the tracker keeps (default: the whole clip, so each
   * re-propagation re-runs memory attention and decoding, not the encoder). Lower it for large
   * bundles, where one frame's features take megabytes.
   */
  featureCacheSize?: number;
  ep?: ExecutionProviderRequest;
  threads?: number;
  /** Keep every step's masks (COCO RLE) and per-frame J in the result, for audits and tests. */
  keepHistory?: boolean;
  log?: (line: string) => void;
}

/** One robot click and what it did. */
export interface ClickRecord {
  /** 1-based click number. */
  click: number;
  frame: number;
  x: number;
  y: number;
  /** 1 = positive, 0 = negative. */
  label: 0 | 1;
  /** What the click answers: the initial click, a missed region or a false-positive region. */
  region: 'initial' | 'missed' | 'falsePositive';
  regionArea: number;
  /** Distance from the click to the region's boundary, px. */
  distance: number;
  /** J on the clicked frame before the click (null for the initial click: nothing predicted yet). */
  jBefore: number | null;
  /** J on the clicked frame from the prompt's own output, before re-propagation. */
  jAfterClick: number;
  /** J on the clicked frame after re-propagation. */
  jAfterPropagation: number;
  /** Mean J of up to `followFrames` frames after the clicked one, before the click (null: initial or none). */
  followBefore: number | null;
  /** The same frames after re-propagation (null when the clicked frame is the last). */
  followAfter: number | null;
  /** Seconds of the re-propagation after this click. */
  propagateSeconds: number;
}

/** The state after k clicks. */
export interface CurvePoint {
  clicks: number;
  J: number;
  F: number;
  JF: number;
  /** Lowest per-frame J and where it is (the next correction's frame). */
  minJ: number;
  worstFrame: number;
  framesBelowTarget: number;
}

export interface CorrectionSummary {
  count: number;
  /** Mean of jAfterClick − jBefore. */
  meanFrameGain: number | null;
  /** Mean of followAfter − followBefore. */
  meanFollowGain: number | null;
}

export interface RobotResult {
  video: string;
  objectId: number;
  model: string;
  ep: string;
  frames: number;
  width: number;
  height: number;
  firstFrame: number;
  maxClicks: number;
  targetJ: number;
  reached: boolean;
  /** Clicks until every frame had J ≥ targetJ; null when maxClicks were not enough. */
  clicksToFinish: number | null;
  clicksUsed: number;
  /**
   * J&F (mean over frames) after 1, 3 and 5 clicks. When the robot finished earlier the last
   * value is carried forward: the annotator stops, so the masks stay what they were.
   */
  jfAfterClicks: { 1: number; 3: number; 5: number };
  curve: CurvePoint[];
  clicks: ClickRecord[];
  correctionResponse: { positive: CorrectionSummary; negative: CorrectionSummary };
  /** Seconds from the start to the last evaluation (model loading included when done here). */
  wallSeconds: number;
  loadSeconds: number;
  /** Per step (index k − 1 = after k clicks), with `keepHistory`. */
  history?: { perFrameJ: number[]; masks: CompressedRle[] }[];
}

export interface GtTrack {
  width: number;
  height: number;
  length: number;
  /** Decoded masks; null where the object is absent. */
  masks: (Uint8Array | null)[];
}

/** One object's ground truth, decoded. */
export function loadGt(gt: string | VisJson, objectId: number): GtTrack {
  const json = typeof gt === 'string' ? readVisJson(gt) : gt;
  const video = json.videos[0]!;
  const ann = json.annotations.find((a) => a.object_id === objectId && a.video_id === video.id);
  if (!ann) throw new CinesegError(ErrorCode.E_USAGE, `object ${objectId} is not in the ground truth`);
  const masks = ann.segmentations.map((r) => {
    if (!r) return null;
    const m = decodeMask(r);
    for (let i = 0; i < m.length; i++) if (m[i]) return m;
    return null;
  });
  return { width: video.width, height: video.height, length: video.length, masks };
}

/**
 * The robot's corrective click on a frame (step 2 of the module comment): deepest inside the
 * larger of the largest missed region (positive) and the largest false-positive region (negative).
 * Shared with the protocol-path robot (annotation-effort-ws.ts), so both decide alike.
 */
export function correctiveClick(g: Uint8Array, p: Uint8Array, w: number, h: number): { label: 0 | 1; region: { area: number }; point: { x: number; y: number; distance: number } } {
  const missed = new Uint8Array(w * h);
  const falsePos = new Uint8Array(w * h);
  for (let i = 0; i < missed.length; i++) {
    missed[i] = g[i] && !p[i] ? 1 : 0;
    falsePos[i] = p[i] && !g[i] ? 1 : 0;
  }
  const rm = largestRegion(missed, w, h);
  const rf = largestRegion(falsePos, w, h);
  // J < 1 means the masks differ somewhere, so at least one region exists. Ties go to the
  // positive click, as a missed object is the worse error for a user.
  const positive = rm !== null && (rf === null || rm.area >= rf.area);
  const region = positive ? rm! : rf!;
  return { label: positive ? 1 : 0, region, point: farthestInteriorPoint(region.mask, w, h)! };
}

function summarise(records: readonly ClickRecord[]): CorrectionSummary {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    count: records.length,
    meanFrameGain: mean(records.filter((r) => r.jBefore !== null).map((r) => r.jAfterClick - r.jBefore!)),
    meanFollowGain: mean(records.filter((r) => r.followBefore !== null && r.followAfter !== null).map((r) => r.followAfter! - r.followBefore!)),
  };
}

/** Summary of the corrective clicks (the initial click excluded), by sign. */
export function correctionResponse(clicks: readonly ClickRecord[]): RobotResult['correctionResponse'] {
  const corr = clicks.filter((c) => c.region !== 'initial');
  return { positive: summarise(corr.filter((c) => c.label === 1)), negative: summarise(corr.filter((c) => c.label === 0)) };
}

/** Mean of a[from..to), or null for an empty range. */
function meanRange(a: readonly number[], from: number, to: number): number | null {
  if (to <= from) return null;
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]!;
  return s / (to - from);
}

/**
 * One point of the effort curve: per-frame J of the first n frames' masks against the ground
 * truth, mean J, F and J&F, the worst frame and how many frames are below targetJ. Both masks
 * empty count J = 1 (jaccard's own convention) and F = 1 (DAVIS's).
 */
export function scoreStep(clicks: number, pred: readonly Uint8Array[], gtAt: (i: number) => Uint8Array, n: number, w: number, h: number, targetJ: number): { perFrameJ: number[]; point: CurvePoint } {
  const perFrameJ: number[] = [];
  let sJ = 0;
  let sF = 0;
  let worst = 0;
  let below = 0;
  for (let i = 0; i < n; i++) {
    const g = gtAt(i);
    const j = jaccard(pred[i]!, g);
    perFrameJ.push(j);
    sJ += j;
    sF += boundaryF(pred[i]!, g, h, w);
    if (j < perFrameJ[worst]!) worst = i;
    if (j < targetJ) below++;
  }
  const J = sJ / n;
  const F = sF / n;
  return { perFrameJ, point: { clicks, J, F, JF: (J + F) / 2, minJ: perFrameJ[worst]!, worstFrame: worst, framesBelowTarget: below } };
}

/** Runs the robot annotator on one object of one clip; see the module comment. */
export async function runRobotAnnotator(opts: RobotOptions): Promise<RobotResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const maxClicks = opts.maxClicks ?? 20;
  const targetJ = opts.targetJ ?? 0.85;
  const followN = opts.followFrames ?? 10;
  if (!Number.isInteger(maxClicks) || maxClicks < 1) throw new CinesegError(ErrorCode.E_USAGE, `maxClicks must be a positive integer, got ${maxClicks}`);
  const gt = loadGt(opts.gt, opts.objectId);
  const bundle = opts.sessions?.bundle ?? loadBundle(opts.bundleDir ?? defaultBundleDir());
  const limit = Math.min(gt.length, opts.maxFrames ?? Infinity);
  let own: ModelSessions | null = null;
  let frames: DecodedFrames | null = null;
  let tracker: VideoTracker | null = null;
  try {
    frames = await DecodedFrames.open(opts.video, bundle.imageSize, { maxFrames: limit });
    const { width: w, height: h } = frames.info;
    if (w !== gt.width || h !== gt.height) {
      throw new CinesegError(ErrorCode.E_MASK_INVALID, `${opts.video} is ${w}x${h}, its ground truth ${gt.width}x${gt.height}`);
    }
    const sessions = opts.sessions ?? (own = await ModelSessions.create(bundle, { ep: opts.ep ?? 'auto', log, ...(opts.threads ? { threads: opts.threads } : {}) }));
    const n = frames.numFrames;
    const first = gt.masks.findIndex((m, i) => i < n && m !== null);
    if (first < 0) throw new CinesegError(ErrorCode.E_USAGE, `object ${opts.objectId} is absent from all ${n} frames`);
    const loadSeconds = (performance.now() - t0) / 1000;
    tracker = new VideoTracker(sessions, frames, { width: w, height: h, memory: true, featureCacheSize: opts.featureCacheSize ?? n + 1 });
    const id = opts.objectId;
    const empty = new Uint8Array(w * h);
    const gtAt = (i: number) => gt.masks[i] ?? empty;
    const pred: Uint8Array[] = Array.from({ length: n }, () => new Uint8Array(w * h));
    const curve: CurvePoint[] = [];
    const clicks: ClickRecord[] = [];
    const history: NonNullable<RobotResult['history']> = [];

    /** Reads every frame's mask at video size (unvisited = empty) and scores the step. */
    const evaluate = (k: number): { perFrameJ: number[]; point: CurvePoint } => {
      for (let i = 0; i < n; i++) if (!tracker!.maskAt(i, id, pred[i])) pred[i]!.fill(0);
      const scored = scoreStep(k, pred, gtAt, n, w, h, targetJ);
      if (opts.keepHistory) history.push({ perFrameJ: scored.perFrameJ, masks: pred.map((m) => encodeMaskCompressed(m, h, w)) });
      return scored;
    };
    const propagate = async (): Promise<number> => {
      const p0 = performance.now();
      // Re-propagation needs every frame's memory, so dropStaleMemory stays off.
      for await (const _ of tracker!.propagate()) void _;
      return (performance.now() - p0) / 1000;
    };
    const frameJ = (f: number) => {
      const m = tracker!.maskAt(f, id);
      return jaccard(m ?? empty, gtAt(f));
    };

    // Click 1: positive, deepest inside the GT mask on the first frame the object is present.
    const p1 = farthestInteriorPoint(gt.masks[first]!, w, h)!;
    await tracker.addPoints(first, id, [{ x: p1.x, y: p1.y, label: 1 }], { clearOld: false });
    const j1 = frameJ(first);
    const sec1 = await propagate();
    let state = evaluate(1);
    curve.push(state.point);
    clicks.push({
      click: 1,
      frame: first,
      x: p1.x,
      y: p1.y,
      label: 1,
      region: 'initial',
      regionArea: countOn(gt.masks[first]!),
      distance: p1.distance,
      jBefore: null,
      jAfterClick: j1,
      jAfterPropagation: state.perFrameJ[first]!,
      followBefore: null,
      followAfter: meanRange(state.perFrameJ, first + 1, Math.min(n, first + 1 + followN)),
      propagateSeconds: sec1,
    });
    log(`click 1 @${first} (${p1.x},${p1.y}) +: J&F ${state.point.JF.toFixed(3)}, min J ${state.point.minJ.toFixed(3)} @${state.point.worstFrame}`);

    while (state.point.minJ < targetJ && clicks.length < maxClicks) {
      const k = clicks.length + 1;
      const f = state.point.worstFrame;
      const { label, region, point: pt } = correctiveClick(gtAt(f), pred[f]!, w, h);
      const positive = label === 1;
      const followEnd = Math.min(n, f + 1 + followN);
      const jBefore = state.perFrameJ[f]!;
      const followBefore = meanRange(state.perFrameJ, f + 1, followEnd);
      // Appended to the frame's earlier clicks: SAM2 keeps every click of a frame.
      await tracker.addPoints(f, id, [{ x: pt.x, y: pt.y, label }], { clearOld: false });
      const jAfterClick = frameJ(f);
      const secs = await propagate();
      state = evaluate(k);
      curve.push(state.point);
      clicks.push({
        click: k,
        frame: f,
        x: pt.x,
        y: pt.y,
        label,
        region: positive ? 'missed' : 'falsePositive',
        regionArea: region.area,
        distance: pt.distance,
        jBefore,
        jAfterClick,
        jAfterPropagation: state.perFrameJ[f]!,
        followBefore,
        followAfter: meanRange(state.perFrameJ, f + 1, followEnd),
        propagateSeconds: secs,
      });
      log(
        `click ${k} @${f} (${pt.x},${pt.y}) ${positive ? '+' : '-'} area ${region.area}: frame J ${jBefore.toFixed(3)} → ${jAfterClick.toFixed(3)}, ` +
          `J&F ${state.point.JF.toFixed(3)}, min J ${state.point.minJ.toFixed(3)} @${state.point.worstFrame}`,
      );
    }
    const reached = state.point.minJ >= targetJ;
    const jfAt = (k: number) => curve[Math.min(k, curve.length) - 1]!.JF;
    return {
      video: opts.video,
      objectId: id,
      model: sessions.bundle.name,
      ep: sessions.ep.ep,
      frames: n,
      width: w,
      height: h,
      firstFrame: first,
      maxClicks,
      targetJ,
      reached,
      clicksToFinish: reached ? clicks.length : null,
      clicksUsed: clicks.length,
      jfAfterClicks: { 1: jfAt(1), 3: jfAt(3), 5: jfAt(5) },
      curve,
      clicks,
      correctionResponse: correctionResponse(clicks),
      wallSeconds: (performance.now() - t0) / 1000,
      loadSeconds,
      ...(opts.keepHistory ? { history } : {}),
    };
  } finally {
    tracker?.destroy();
    await frames?.destroy();
    await own?.destroy();
  }
}

function countOn(m: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < m.length; i++) if (m[i]) c++;
  return c;
}
