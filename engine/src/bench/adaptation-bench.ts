/**
 * Adaptation bench: how much a site's own annotations buy, measured on a site the shipped model
 * never saw (the sample generator's `--site e`, which no training set of the shipped model uses).
 *
 *   site clips: 5 per kind to annotate (train seeds), 2 per kind kept out (test seeds)
 *   before   : the base bundle on the kept-out clips (mask and one-click prompts from prompts.json)
 *   after[n] : `finetune` on n annotated clips per kind (n = 1, 3, 5), same kept-out clips
 *   zero-click: support sets of 1 and 3 annotated clips of the same kind, no prompt at all
 *   effort   : the robot annotator's clicks to finish, base vs the 3-clip bundle
 *
 * Everything goes through the same functions the CLI runs (finetune, trackVideo, the robot).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finetune, type EncoderMode, type FinetuneMode } from '../adapt/finetune.js';
import { samplePrompts, type PromptKind } from '../cli/demo-command.js';
import { poolSupportByCategory, trackVideo } from '../cli/track-command.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { evaluateVis, readVisJson, type VisJson } from '../mask/vis-json.js';
import { defaultBundleDir, loadBundle } from '../model/bundle.js';
import { ModelSessions } from '../model/ort-sessions.js';
import { REPO_ROOT } from '../paths.js';
import { compareBundlesEffort, sampleClips, type EffortSummary } from './annotation-effort.js';
import { printResult } from './print-result.js';

export interface AdaptationBenchOptions {
  quick: boolean;
  site?: string;
  base?: string;
  /** Annotated clips per kind for each fine-tune (default 1, 3, 5; quick: 1). */
  counts?: number[];
  steps?: number;
  minutes?: number;
  /** Also fine-tune the 3-clip case in this mode, to compare (e.g. 'full'). */
  compareMode?: FinetuneMode;
  /** Image encoder handling of every fine-tune here (default: finetune's). */
  encoder?: EncoderMode;
  /** Also fine-tune the 3-clip case with this encoder handling, to compare. */
  compareEncoder?: EncoderMode;
  workDir?: string;
  log?: (line: string) => void;
}

const KINDS = ['ultrasound', 'endoscopy'] as const;
const TRAIN_SEED = 20000;
const TEST_SEED = 20100;

export interface SiteScore {
  /** Mean J&F over the kept-out clips and both prompt kinds. */
  jf: number;
  mask: number;
  point: number;
  perClip: Record<string, { mask: number; point: number }>;
}

export interface AdaptationBenchResult {
  site: string;
  base: string;
  trainClips: string[];
  testClips: string[];
  /** The base bundle on the kept-out clips of a site it never saw. */
  siteShiftJfBefore: number;
  /** After fine-tuning on n annotated clips per kind (key n). */
  siteShiftJfAfter: Record<string, number>;
  /** Zero-click J&F with 1- and 3-clip support sets (base model, and the 3-clip bundle). */
  zeroClickJf: { base: Record<string, number>; adapted: Record<string, number> };
  clicksToFinishBefore: number;
  clicksToFinishAfter: number;
  /** Wall time of the 3-clip (or the largest) fine-tune, s. */
  finetuneSeconds: number;
  detail: {
    before: SiteScore;
    after: Record<string, SiteScore & { seconds: number; validation: { before: number; after: number } | null; mode: FinetuneMode }>;
    compare?: { mode: FinetuneMode; encoder?: EncoderMode; score: SiteScore; seconds: number };
    /** `baseUnmirrored`: the base model with support frames as they are (no mirrored views), side by side (empty in quick runs). */
    zeroClick: { base: Record<string, SiteScore>; baseUnmirrored: Record<string, SiteScore>; adapted: Record<string, SiteScore> };
    effort: { before: EffortSummary; after: EffortSummary } | null;
  };
}

function makeClips(dir: string, site: string, seedStart: number, count: number): void {
  const r = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'samples', 'dist', 'cli.js'), '--out', dir, '--kind', 'all', '--site', site, '--seed-start', String(seedStart), '--count', String(count), '--quiet'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new CinesegError(ErrorCode.E_INTERNAL, `sample generator failed: ${r.stderr}`);
}

/** The kept-out clips scored with mask and one-click prompts (every annotated object). */
export async function scoreSite(sessions: ModelSessions, dirs: readonly string[]): Promise<SiteScore> {
  const perClip: SiteScore['perClip'] = {};
  for (const dir of dirs) {
    const gt = readVisJson(join(dir, 'gt.json'));
    const res: Record<string, number> = {};
    for (const kind of ['mask', 'point'] as PromptKind[]) {
      const r = await trackVideo({ video: join(dir, 'clip.mp4'), prompts: samplePrompts(dir, kind), sessions });
      res[kind] = evaluateVis(r.json, gt).mean.JF;
    }
    perClip[dir.split('/').pop()!] = { mask: res.mask!, point: res.point! };
  }
  const v = Object.values(perClip);
  const mask = v.reduce((a, x) => a + x.mask, 0) / v.length;
  const point = v.reduce((a, x) => a + x.point, 0) / v.length;
  return { jf: (mask + point) / 2, mask, point, perClip };
}

/**
 * Zero-click: no prompt; the support clips' objects are pooled per category (a new clip's objects
 * have no ids yet, so "find the vessel" is the question), one target object per category. Each
 * ground-truth object is scored against the track of its category.
 */
export async function scoreZeroClick(sessions: ModelSessions, testDirs: readonly string[], supportDirs: readonly string[], supportMirror?: boolean): Promise<SiteScore> {
  const perClip: SiteScore['perClip'] = {};
  for (const dir of testDirs) {
    const gt = readVisJson(join(dir, 'gt.json'));
    // What `track --support-by category` does: one target object per category.
    const support = poolSupportByCategory(supportDirs.map((s) => ({ clip: join(s, 'clip.mp4'), masks: join(s, 'gt.json') })));
    const r = await trackVideo({ video: join(dir, 'clip.mp4'), prompts: [], support, sessions, ...(supportMirror === undefined ? {} : { supportMirror }) });
    // Prediction per GT object: its category's track, renamed to the GT object's id.
    const pred: VisJson = {
      ...r.json,
      annotations: gt.annotations.flatMap((g) => {
        const p = r.json.annotations.find((a) => a.object_id === g.category_id);
        return p ? [{ ...p, object_id: g.object_id }] : [];
      }),
    };
    const jf = evaluateVis(pred, gt).mean.JF;
    perClip[dir.split('/').pop()!] = { mask: jf, point: jf };
  }
  const v = Object.values(perClip);
  const jf = v.reduce((a, x) => a + x.mask, 0) / v.length;
  return { jf, mask: jf, point: jf, perClip };
}

async function withSessions<T>(dir: string, fn: (s: ModelSessions) => Promise<T>): Promise<T> {
  const s = await ModelSessions.create(loadBundle(dir), { ep: 'cpu' });
  try {
    return await fn(s);
  } finally {
    await s.destroy();
  }
}

export async function benchAdaptation(opts: AdaptationBenchOptions): Promise<AdaptationBenchResult> {
  const log = opts.log ?? (() => undefined);
  const site = opts.site ?? 'e';
  const base = resolve(opts.base ?? defaultBundleDir());
  const work = resolve(opts.workDir ?? join(REPO_ROOT, 'bench-results', 'adaptation'));
  const clipsDir = join(work, 'clips');
  mkdirSync(clipsDir, { recursive: true });
  const counts = opts.counts ?? (opts.quick ? [1] : [1, 3, 5]);
  const maxCount = Math.max(...counts, opts.quick ? 1 : 3);
  // 3 kept-out clips per kind: with 2, one clip's lost object moved the mean by 0.1.
  const nTest = opts.quick ? 1 : 3;
  makeClips(clipsDir, site, TRAIN_SEED, maxCount);
  makeClips(clipsDir, site, TEST_SEED, nTest);
  const dir = (kind: string, seed: number) => join(clipsDir, `${kind}-${site}-${seed}`);
  const trainDirs = (n: number) => KINDS.flatMap((k) => Array.from({ length: n }, (_, i) => dir(k, TRAIN_SEED + i)));
  const testDirs = KINDS.flatMap((k) => Array.from({ length: nTest }, (_, i) => dir(k, TEST_SEED + i)));
  const steps = opts.steps ?? (opts.quick ? 20 : undefined);

  log(`adaptation: site ${site}, base ${loadBundle(base).name}`);
  const before = await withSessions(base, (s) => scoreSite(s, testDirs));
  log(`  before: J&F ${before.jf.toFixed(3)} (mask ${before.mask.toFixed(3)}, click ${before.point.toFixed(3)})`);

  const supportSizes = opts.quick ? [1] : [1, 3];
  const zeroFor = (bundle: string, mirror?: boolean) =>
    withSessions(bundle, async (s) => {
      const out: Record<string, SiteScore> = {};
      for (const n of supportSizes) {
        const scores: SiteScore[] = [];
        for (const kind of KINDS) {
          const sup = Array.from({ length: n }, (_, i) => dir(kind, TRAIN_SEED + i));
          scores.push(
            await scoreZeroClick(
              s,
              testDirs.filter((d) => d.includes(`/${kind}-`)),
              sup,
              mirror,
            ),
          );
        }
        const jf = scores.reduce((a, x) => a + x.jf, 0) / scores.length;
        out[String(n)] = { jf, mask: jf, point: jf, perClip: Object.assign({}, ...scores.map((x) => x.perClip)) };
      }
      return out;
    });
  const zeroBase = await zeroFor(base);
  log(`  zero-click (base): ${supportSizes.map((n) => `${n} clip(s) ${zeroBase[String(n)]!.jf.toFixed(3)}`).join(', ')}`);
  // Side by side in full runs only: the quick run sits in CI's longest test already.
  const zeroUnmirrored: Record<string, SiteScore> = opts.quick ? {} : await zeroFor(base, false);
  if (!opts.quick) log(`  zero-click (base, support not mirrored): ${supportSizes.map((n) => `${n} clip(s) ${zeroUnmirrored[String(n)]!.jf.toFixed(3)}`).join(', ')}`);

  const after: AdaptationBenchResult['detail']['after'] = {};
  const bundles: Record<string, string> = {};
  const tune = async (n: number, mode: FinetuneMode, tag: string, encoder = opts.encoder) => {
    const out = join(work, `bundle-${tag}`);
    rmSync(out, { recursive: true, force: true });
    rmSync(`${out}.work`, { recursive: true, force: true });
    const data = trainDirs(n).map((d) => ({ clip: join(d, 'clip.mp4'), masks: join(d, 'gt.json') }));
    const r = await finetune({
      data,
      base,
      out,
      mode,
      ...(encoder ? { encoder } : {}),
      force: true,
      ...(steps === undefined ? {} : { steps }),
      ...(opts.minutes === undefined ? {} : { minutes: opts.minutes }),
      log,
    });
    const score = await withSessions(r.bundle!, (s) => scoreSite(s, testDirs));
    log(`  finetune ${tag} (${r.seconds.toFixed(0)} s): J&F ${score.jf.toFixed(3)} (validation ${r.before!.mean.toFixed(3)} -> ${r.after!.mean.toFixed(3)})`);
    return { bundle: r.bundle!, score, seconds: r.seconds, validation: { before: r.before!.mean, after: r.after!.mean } };
  };
  for (const n of counts) {
    const r = await tune(n, 'lora', `${n}x2-lora`);
    bundles[String(n)] = r.bundle;
    after[String(n)] = { ...r.score, seconds: r.seconds, validation: r.validation, mode: 'lora' };
  }
  let compare: AdaptationBenchResult['detail']['compare'];
  if (opts.compareMode && opts.compareMode !== 'lora') {
    const n = counts.includes(3) ? 3 : counts[counts.length - 1]!;
    const r = await tune(n, opts.compareMode, `${n}x2-${opts.compareMode}`);
    compare = { mode: opts.compareMode, score: r.score, seconds: r.seconds };
  }
  if (opts.compareEncoder) {
    const n = counts.includes(3) ? 3 : counts[counts.length - 1]!;
    const r = await tune(n, 'lora', `${n}x2-lora-encoder-${opts.compareEncoder}`, opts.compareEncoder);
    compare = { mode: 'lora', encoder: opts.compareEncoder, score: r.score, seconds: r.seconds };
  }
  const ref = counts.includes(3) ? '3' : String(counts[counts.length - 1]);
  const zeroAdapted = await zeroFor(bundles[ref]!);
  log(`  zero-click (${ref}-clip bundle): ${supportSizes.map((n) => `${n} clip(s) ${zeroAdapted[String(n)]!.jf.toFixed(3)}`).join(', ')}`);

  const effortClips = testDirs.flatMap((d) => sampleClips(d.slice(0, d.lastIndexOf('/')), [d.split('/').pop()!], opts.quick ? { maxFrames: 30 } : {}));
  const effort = await compareBundlesEffort(base, bundles[ref]!, effortClips, { ep: 'cpu' });
  log(`  clicks to finish: ${effort.clicksToFinishBefore.toFixed(2)} -> ${effort.clicksToFinishAfter.toFixed(2)}`);

  const pick = (o: Record<string, SiteScore>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.jf]));
  return {
    site,
    base: loadBundle(base).name,
    trainClips: trainDirs(maxCount).map((d) => d.split('/').pop()!),
    testClips: testDirs.map((d) => d.split('/').pop()!),
    siteShiftJfBefore: before.jf,
    siteShiftJfAfter: Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v.jf])),
    zeroClickJf: { base: pick(zeroBase), adapted: pick(zeroAdapted) },
    clicksToFinishBefore: effort.clicksToFinishBefore,
    clicksToFinishAfter: effort.clicksToFinishAfter,
    finetuneSeconds: after[ref]!.seconds,
    detail: {
      before,
      after,
      ...(compare ? { compare } : {}),
      zeroClick: { base: zeroBase, baseUnmirrored: zeroUnmirrored, adapted: zeroAdapted },
      effort: { before: effort.before, after: effort.after },
    },
  };
}

// `node engine/dist/bench/adaptation-bench.js [--quick] [--compare full] [--site e] [--counts 1,3,5]` prints the result as JSON.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const cmp = arg('--compare');
  const site = arg('--site');
  const base = arg('--base');
  const steps = arg('--steps');
  const counts = arg('--counts');
  printResult(
    benchAdaptation({
      quick: process.argv.includes('--quick'),
      ...(cmp ? { compareMode: cmp as FinetuneMode } : {}),
      ...(site ? { site } : {}),
      ...(base ? { base } : {}),
      ...(steps ? { steps: Number(steps) } : {}),
      ...(counts ? { counts: counts.split(',').map(Number) } : {}),
      log: (l) => process.stderr.write(`${l}\n`),
    }),
  );
}
