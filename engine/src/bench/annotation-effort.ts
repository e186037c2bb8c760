/**
 * Annotation-effort bench over sample clips: the robot annotator (robot-annotator.ts) on every
 * annotated object of the held-out clips, summarised per clip and overall, and the same clips with
 * two bundles (base vs fine-tuned). `node engine/dist/bench/annotation-effort.js` runs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CinesegError, ErrorCode } from '../errors.js';
import { loadBundle } from '../model/bundle.js';
import { defaultBundleDir, GENERATED_SAMPLES_DIR } from '../paths.js';
import { ModelSessions, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import { printResult } from './print-result.js';
import { correctionResponse, runRobotAnnotator, type RobotResult } from './robot-annotator.js';

/** One object of one clip for the robot. */
export interface EffortClip {
  /** Label in reports, e.g. "ultrasound-1#2". */
  name: string;
  video: string;
  gt: string;
  objectId: number;
  maxFrames?: number;
}

/**
 * Every annotated object of the given sample clips (folders holding clip.mp4, gt.json and
 * prompts.json, as samples/generated/<kind>-<seed>/ does).
 */
export function sampleClips(root: string, names: readonly string[], opts: { maxFrames?: number } = {}): EffortClip[] {
  const out: EffortClip[] = [];
  for (const name of names) {
    const dir = join(root, name);
    const promptsPath = join(dir, 'prompts.json');
    if (!existsSync(promptsPath)) {
      throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `${promptsPath} is missing: make the held-out samples with \`npm run samples\``);
    }
    const prompts = JSON.parse(readFileSync(promptsPath, 'utf8')) as { video: string; objects: { object_id: number }[] };
    for (const o of prompts.objects) {
      out.push({ name: `${name}#${o.object_id}`, video: join(dir, prompts.video), gt: join(dir, 'gt.json'), objectId: o.object_id, ...opts });
    }
  }
  return out;
}

export interface EffortSummary {
  model: string;
  ep: string;
  maxClicks: number;
  targetJ: number;
  /**
   * Mean clicks to finish over the objects, an unfinished object counted as maxClicks: a lower
   * bound on the true mean whenever `unfinished` > 0.
   */
  clicksToFinish: number;
  unfinished: number;
  /** Mean J&F after 1, 3 and 5 clicks over the objects. */
  jfAfterClicks: { 1: number; 3: number; 5: number };
  /** Corrective clicks over every object, by sign. */
  correctionResponse: RobotResult['correctionResponse'];
  perClip: {
    name: string;
    frames: number;
    /** null: not finished within maxClicks. */
    clicksToFinish: number | null;
    jfAfterClicks: { 1: number; 3: number; 5: number };
    finalJF: number;
    finalMinJ: number;
    positiveClicks: number;
    negativeClicks: number;
    correctionResponse: RobotResult['correctionResponse'];
    wallSeconds: number;
  }[];
  wallSeconds: number;
}

/** Runs the robot over clips with one set of sessions and summarises. */
export async function runEffortClips(
  clips: readonly EffortClip[],
  opts: { bundleDir?: string; sessions?: ModelSessions; maxClicks?: number; targetJ?: number; ep?: ExecutionProviderRequest; log?: (line: string) => void } = {},
): Promise<EffortSummary> {
  if (clips.length === 0) throw new CinesegError(ErrorCode.E_USAGE, 'no clips to annotate');
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const own = opts.sessions ? null : await ModelSessions.create(loadBundle(opts.bundleDir ?? defaultBundleDir()), { ep: opts.ep ?? 'auto', log });
  const sessions = opts.sessions ?? own!;
  try {
    const results: RobotResult[] = [];
    for (const c of clips) {
      const r = await runRobotAnnotator({
        video: c.video,
        gt: c.gt,
        objectId: c.objectId,
        sessions,
        ...(c.maxFrames === undefined ? {} : { maxFrames: c.maxFrames }),
        ...(opts.maxClicks === undefined ? {} : { maxClicks: opts.maxClicks }),
        ...(opts.targetJ === undefined ? {} : { targetJ: opts.targetJ }),
      });
      log(`${c.name}: ${r.clicksToFinish ?? `>${r.maxClicks}`} clicks, J&F@1 ${r.jfAfterClicks[1].toFixed(3)}, @5 ${r.jfAfterClicks[5].toFixed(3)} (${r.wallSeconds.toFixed(1)} s)`);
      results.push(r);
    }
    const mean = (f: (r: RobotResult) => number) => results.reduce((a, r) => a + f(r), 0) / results.length;
    const last = (r: RobotResult) => r.curve[r.curve.length - 1]!;
    return {
      model: sessions.bundle.name,
      ep: sessions.ep.ep,
      maxClicks: results[0]!.maxClicks,
      targetJ: results[0]!.targetJ,
      clicksToFinish: mean((r) => r.clicksToFinish ?? r.maxClicks),
      unfinished: results.filter((r) => !r.reached).length,
      jfAfterClicks: { 1: mean((r) => r.jfAfterClicks[1]), 3: mean((r) => r.jfAfterClicks[3]), 5: mean((r) => r.jfAfterClicks[5]) },
      correctionResponse: correctionResponse(results.flatMap((r) => r.clicks)),
      perClip: results.map((r, i) => ({
        name: clips[i]!.name,
        frames: r.frames,
        clicksToFinish: r.clicksToFinish,
        jfAfterClicks: r.jfAfterClicks,
        finalJF: last(r).JF,
        finalMinJ: last(r).minJ,
        positiveClicks: r.clicks.filter((c) => c.label === 1).length,
        negativeClicks: r.clicks.filter((c) => c.label === 0).length,
        correctionResponse: r.correctionResponse,
        wallSeconds: r.wallSeconds,
      })),
      wallSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await own?.destroy();
  }
}

/**
 * The same clips annotated with two bundles (e.g. base and fine-tuned), one after the other so
 * only one model is in memory at a time.
 */
export async function compareBundlesEffort(
  baseDir: string,
  newDir: string,
  clips: readonly EffortClip[],
  opts: { maxClicks?: number; targetJ?: number; ep?: ExecutionProviderRequest; log?: (line: string) => void } = {},
): Promise<{ clicksToFinishBefore: number; clicksToFinishAfter: number; before: EffortSummary; after: EffortSummary }> {
  const before = await runEffortClips(clips, { ...opts, bundleDir: baseDir });
  const after = await runEffortClips(clips, { ...opts, bundleDir: newDir });
  return { clicksToFinishBefore: before.clicksToFinish, clicksToFinishAfter: after.clicksToFinish, before, after };
}

/** The held-out clips of the bench (the default synthetic set; training uses other seeds). */
export const EFFORT_CLIPS = ['ultrasound-1', 'ultrasound-2', 'ultrasound-3', 'endoscopy-1', 'endoscopy-2', 'endoscopy-3'] as const;
/** --quick: one clip, cut to the frames where its second object's errors begin. */
export const EFFORT_QUICK = { clips: ['ultrasound-1'], maxFrames: 45 } as const;

/** The bench part of `npm run bench`: the robot on the held-out sample clips. */
export async function benchAnnotationEffort(opts: { quick: boolean; model?: string; samplesDir?: string; log?: (line: string) => void }): Promise<EffortSummary> {
  const root = opts.samplesDir ?? GENERATED_SAMPLES_DIR;
  const clips = opts.quick ? sampleClips(root, EFFORT_QUICK.clips, { maxFrames: EFFORT_QUICK.maxFrames }) : sampleClips(root, EFFORT_CLIPS);
  return runEffortClips(clips, { ...(opts.model ? { bundleDir: opts.model } : {}), ...(opts.log ? { log: opts.log } : {}) });
}

// `node engine/dist/bench/annotation-effort.js [--quick] [--model <bundle>]` prints the summary as JSON.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--model');
  const model = i > 0 ? process.argv[i + 1] : undefined;
  printResult(benchAnnotationEffort({ quick: process.argv.includes('--quick'), ...(model ? { model } : {}), log: (l) => process.stderr.write(`${l}\n`) }));
}
