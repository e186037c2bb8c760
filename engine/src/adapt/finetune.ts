/**
 * `cineseg finetune`: a site's confirmed annotations → a new bundle adapted to that site, checked.
 *
 *   annotations (VIS files, stored sessions) ─ training-data ─▶ raw frames + masks at model size
 *   ─ trainer-process (models/finetune/run.py: LoRA or full, merged, exported) ─▶ candidate bundle
 *   ─ site-validation (engine, base vs candidate, held-out tail of every clip) ─▶ written or refused
 *
 * The output is a normal bundle (same graphs and contract as the base) whose manifest says where
 * it came from: base bundle and checkpoint hashes, every clip's content hash and frame count,
 * sessions, steps, seed, hyperparameters, wall time, and the validation table. It is never written
 * over the base, and a candidate that scores lower than the base on validation is refused
 * (E_TRAIN_WORSE) unless `force`.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { probe } from '../decode/probe.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { defaultBundleDir, loadBundle, type Bundle } from '../model/bundle.js';
import { ModelSessions } from '../model/ort-sessions.js';
import { planValidation, validateBundle, type ValidationScore, type ValidationSplit } from './site-validation.js';
import { runTrainer, type TrainerEvent } from './trainer-process.js';
import { cacheClip, readAnnotatedClip, type AnnotatedClip, type AnnotatedClipInput, type CachedClipEntry } from './training-data.js';

export type FinetuneMode = 'lora' | 'full';
/** The image encoder: frozen (features computed once per frame), LoRA adapters, or trained. */
export type EncoderMode = 'frozen' | 'lora' | 'train';

export interface FinetuneOptions {
  data: AnnotatedClipInput[];
  /** Base bundle folder (default: the shipped bundle). */
  base?: string;
  /** The base's source weights (default: found beside the bundle and checked by sha256). */
  checkpoint?: string;
  out: string;
  name?: string;
  mode?: FinetuneMode;
  encoder?: EncoderMode;
  rank?: number;
  steps?: number;
  /** Wall-time cap of the training loop (the schedule follows it). 0 = none. */
  minutes?: number;
  lr?: number;
  seed?: number;
  /** Frames per training window (default 8, as SAM 2). */
  frames?: number;
  /** Share of training windows moved along a simulated camera drift (models/finetune/run.py camera_path); needs the encoder not frozen. */
  motionAug?: number;
  /** Share of every clip's frames, at its end, held out for validation (default 0.25). */
  valFraction?: number;
  /** Time split, whole clips held out, or auto: whole clips once a kind has 4 (site-validation.ts). */
  valSplit?: ValidationSplit;
  force?: boolean;
  resume?: boolean;
  threads?: number;
  /** Where the raw training data and the trainer's checkpoints go (default `<out>.work`). */
  workDir?: string;
  /** Validation runs the graphs in a worker thread (a server's event loop stays free; default: as ModelSessions decides). */
  worker?: boolean;
  onEvent?: (e: TrainerEvent) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface FinetuneResult {
  /** The bundle folder, or null when interrupted or refused. */
  bundle: string | null;
  interrupted: boolean;
  before: ValidationScore | null;
  after: ValidationScore | null;
  manifest: Record<string, unknown> | null;
  workDir: string;
  seconds: number;
}

/**
 * Defaults, chosen from the runs in docs/benchmarks.md (adaptation): with the image encoder frozen
 * (its features cached) LoRA and full fine-tuning both fit the annotated clips and LOST J&F on
 * other clips of the site (0.578 -> 0.518 / 0.517); the site's look lives in the encoder's
 * features, so it trains too (0.578 -> 0.595 on the same clips), with LoRA on memory attention and
 * the decoder. Half the windows drift along a simulated camera path (motionAug): side by side on
 * sites e and d, 3 clips per kind, it lifted J&F on the kept-out clips 0.608 -> 0.652 and
 * 0.556 -> 0.605 (the mask had trailed moving objects until it lost them); across separate bench
 * runs the gain is smaller (e 0.637 -> 0.659, d 0.578 -> 0.574), never a loss side by side.
 */
export const FINETUNE_DEFAULTS = {
  mode: 'lora' as FinetuneMode,
  encoder: 'train' as EncoderMode,
  rank: 8,
  steps: 300,
  minutes: 8,
  frames: 8,
  motionAug: 0.5,
  valFraction: 0.25,
  valSplit: 'auto' as ValidationSplit,
  seed: 0,
};

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The base bundle's source weights: `--checkpoint`, else `checkpoint.pt` in the bundle (what
 * finetune writes), else the manifest's `source.checkpoint` beside the bundle or one folder up
 * (the shipped `models/tiny/tiny-synth.pt`). Checked against `source.sha256` when the manifest
 * records it, so a bundle is never fine-tuned from weights it was not exported from.
 */
export function resolveBaseCheckpoint(base: Bundle, given?: string): { path: string | null; sha256: string | null; randomSeed?: number } {
  const source = (base.raw.source ?? {}) as { checkpoint?: string | null; sha256?: string; randomWeights?: boolean; seed?: number };
  if (!given && source.randomWeights) return { path: null, sha256: null, randomSeed: source.seed ?? 0 };
  const want = source.sha256;
  const candidates: string[] = [];
  if (given) candidates.push(resolve(given));
  else {
    candidates.push(join(base.dir, 'checkpoint.pt'));
    if (source.checkpoint) {
      if (isAbsolute(source.checkpoint)) candidates.push(source.checkpoint);
      else candidates.push(join(base.dir, source.checkpoint), join(dirname(base.dir), source.checkpoint));
    }
    candidates.push(join(dirname(base.dir), `${base.config}.pt`));
  }
  const present = candidates.filter((p) => existsSync(p));
  if (present.length === 0) {
    throw new CinesegError(ErrorCode.E_BASE_CHECKPOINT, `no source weights for bundle ${base.name}: looked for ${candidates.map((c) => basename(c)).join(', ')}; give --checkpoint <file.pt>`);
  }
  for (const p of present) {
    const h = sha256(p);
    if (!want || h === want) return { path: p, sha256: h };
  }
  throw new CinesegError(
    ErrorCode.E_BASE_CHECKPOINT,
    `${present.map((p) => basename(p)).join(', ')}: sha256 differs from the bundle's source.sha256 ${want!.slice(0, 12)}…; these are not the weights ${base.name} was exported from`,
  );
}

function checkOut(out: string, base: Bundle, force: boolean): void {
  const o = resolve(out);
  if (o === resolve(base.dir)) throw new CinesegError(ErrorCode.E_USAGE, `--out ${out} is the base bundle; a fine-tuned bundle is always written beside it`);
  if (existsSync(o) && readdirSync(o).length > 0 && !force) {
    throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `${out} exists and is not empty; choose another --out (or --force to replace it)`);
  }
  if (!existsSync(dirname(o))) throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `folder ${dirname(o)} does not exist`);
}

/** Runs the whole loop; see the file comment. */
export async function finetune(opts: FinetuneOptions): Promise<FinetuneResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  if (opts.data.length === 0) throw new CinesegError(ErrorCode.E_USAGE, 'give at least one --data <clip>:<masks.json> or --session <id>');
  const base = loadBundle(opts.base ?? defaultBundleDir());
  checkOut(opts.out, base, opts.force ?? false);
  const ckpt = resolveBaseCheckpoint(base, opts.checkpoint);
  const mode = opts.mode ?? FINETUNE_DEFAULTS.mode;
  if (mode !== 'lora' && mode !== 'full') throw new CinesegError(ErrorCode.E_USAGE, `--mode must be lora or full, got ${String(mode)}`);
  const encoder = opts.encoder ?? FINETUNE_DEFAULTS.encoder;
  if (!['frozen', 'lora', 'train'].includes(encoder)) throw new CinesegError(ErrorCode.E_USAGE, `--encoder must be frozen, lora or train, got ${String(encoder)}`);
  const valFraction = opts.valFraction ?? FINETUNE_DEFAULTS.valFraction;
  if (!(valFraction > 0 && valFraction < 0.9)) throw new CinesegError(ErrorCode.E_USAGE, '--val-fraction must be in (0, 0.9)');
  const askedMotion = opts.motionAug ?? FINETUNE_DEFAULTS.motionAug;
  if (!(askedMotion >= 0 && askedMotion <= 1)) throw new CinesegError(ErrorCode.E_USAGE, `--motion-aug must be in [0, 1], got ${askedMotion}`);
  // A frozen encoder's features are computed once, from the frames as they are: nothing can move
  // them, so the manifest records the drift that was actually trained.
  const motionAug = encoder === 'frozen' ? 0 : askedMotion;

  // 1. Every input checked before anything is decoded.
  const clips: AnnotatedClip[] = [];
  for (const d of opts.data) {
    clips.push(
      await readAnnotatedClip(d, async (clip) => {
        const info = await probe(clip);
        if (info.frameCount === null) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${clip}: training needs a recorded clip with a known length`);
        return { width: info.width, height: info.height, numFrames: info.frameCount };
      }),
    );
  }
  const valSplit = opts.valSplit ?? FINETUNE_DEFAULTS.valSplit;
  if (!['auto', 'time', 'clips'].includes(valSplit)) throw new CinesegError(ErrorCode.E_USAGE, `--val-split must be auto, time or clips, got ${String(valSplit)}`);
  const plan = planValidation(clips, valFraction, valSplit);
  const items = plan.items;
  if (items.length === 0)
    throw new CinesegError(
      ErrorCode.E_INPUT_EMPTY,
      `no object is visible in the validation part (${plan.description}), so nothing can be validated; annotate further or change --val-fraction / --val-split`,
    );
  log(`data: ${clips.length} clip(s), ${clips.reduce((a, c) => a + c.objects.length, 0)} object track(s); validation: ${plan.description} (${items.length} segment(s))`);

  // 2. Raw training data at the model's size.
  const workDir = resolve(opts.workDir ?? `${resolve(opts.out)}.work`);
  const dataDir = join(workDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const S = base.imageSize;
  const entries: CachedClipEntry[] = [];
  // Held-out clips are never written for the trainer.
  const trainIdx = clips.flatMap((_, i) => (plan.trainFrames[i] ? [i] : []));
  for (const i of trainIdx) entries.push(await cacheClip(clips[i]!, S, dataDir, i, plan.trainFrames[i]!));

  // 3. Train and export a candidate.
  const candidate = join(workDir, 'bundle');
  rmSync(candidate, { recursive: true, force: true });
  const hyper = {
    mode,
    encoder,
    rank: opts.rank ?? FINETUNE_DEFAULTS.rank,
    steps: opts.steps ?? FINETUNE_DEFAULTS.steps,
    minutes: opts.minutes ?? FINETUNE_DEFAULTS.minutes,
    frames: opts.frames ?? FINETUNE_DEFAULTS.frames,
    motionAug,
    seed: opts.seed ?? FINETUNE_DEFAULTS.seed,
    ...(opts.lr === undefined ? {} : { lr: opts.lr }),
  };
  const spec = {
    work: join(workDir, 'trainer'),
    config: base.config,
    imageSize: S,
    checkpoint: ckpt.path,
    ...(ckpt.randomSeed === undefined ? {} : { randomSeed: ckpt.randomSeed }),
    clips: entries,
    ...hyper,
    threads: opts.threads ?? 1,
    resume: opts.resume ?? false,
    bundleOut: candidate,
    name: opts.name ?? `${base.name}-site`,
  };
  const specPath = join(workDir, 'spec.json');
  writeFileSync(specPath, JSON.stringify(spec, null, 1));
  const tTrain = performance.now();
  const run = await runTrainer({
    spec: specPath,
    logFile: join(workDir, 'trainer.log'),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
  });
  const trainSeconds = (performance.now() - tTrain) / 1000;
  if (run.interrupted) return { bundle: null, interrupted: true, before: null, after: null, manifest: null, workDir, seconds: (performance.now() - t0) / 1000 };
  const trained: Partial<TrainerEvent> = run.events.find((e) => e.event === 'trained') ?? {};

  // 4. Validate base and candidate through the engine, on the held-out frames only.
  const score = async (dir: string) => {
    const sessions = await ModelSessions.create(loadBundle(dir), { ep: 'cpu', ...(opts.worker === undefined ? {} : { worker: opts.worker }) });
    try {
      return await validateBundle(sessions, clips, items);
    } finally {
      await sessions.destroy();
    }
  };
  log('validating the base and the fine-tuned bundle on the held-out frames…');
  const before = await score(base.dir);
  const after = await score(candidate);

  const manifestPath = join(candidate, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  const trainerCkpt = join(spec.work, 'model.pt');
  copyFileSync(trainerCkpt, join(candidate, 'checkpoint.pt'));
  manifest.source = { ...(manifest.source as object), checkpoint: 'checkpoint.pt', sha256: sha256(trainerCkpt) };
  const seconds = (performance.now() - t0) / 1000;
  manifest.adaptation = {
    tool: 'cineseg finetune',
    createdAt: new Date().toISOString(),
    base: { name: base.name, dir: base.dir, checkpoint: ckpt.path ? basename(ckpt.path) : null, checkpointSha256: ckpt.sha256, manifestSha256: sha256(join(base.dir, 'manifest.json')) },
    clips: clips.map((c, i) => ({
      name: c.name,
      origin: c.origin,
      contentHash: c.contentHash,
      numFrames: c.numFrames,
      size: [c.width, c.height],
      objects: c.objects.map((o) => ({ objectId: o.objectId, label: o.label })),
      annotatedFrames: c.annotatedFrames,
      trainFrames: plan.trainFrames[i],
      heldOut: plan.trainFrames[i] === null,
    })),
    sessions: opts.data.filter((d) => d.origin?.startsWith('session:')).map((d) => d.origin!.slice('session:'.length)),
    hyperparameters: hyper,
    steps: trained.steps ?? null,
    // The same fixed windows scored before and after training (run.py fixed_loss): the trend.
    loss: {
      fixedWindowsBefore: trained.fixedLossBefore ?? null,
      fixedWindowsAfter: trained.fixedLossAfter ?? null,
      firstFifthOfSteps: trained.lossFirstFifth ?? null,
      lastFifthOfSteps: trained.lossLastFifth ?? null,
    },
    trainableParameters: run.events.find((e) => e.event === 'model')?.trainableParameters ?? null,
    trainSeconds: Math.round(trainSeconds * 10) / 10,
    wallSeconds: Math.round(seconds * 10) / 10,
    validation: {
      split: plan.description,
      metric: 'DAVIS J&F on the frames after the prompt; mask and one-click prompts',
      before: { mask: before.mask, click: before.click, mean: before.mean },
      after: { mask: after.mask, click: after.click, mean: after.mean },
      items: after.items.map((a, i) => ({
        clip: basename(a.clip),
        objectId: a.objectId,
        startFrame: a.startFrame,
        endFrame: a.endFrame,
        before: { mask: before.items[i]!.mask, click: before.items[i]!.click },
        after: { mask: a.mask, click: a.click },
      })),
    },
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));

  if (after.mean < before.mean && !opts.force) {
    throw new CinesegError(
      ErrorCode.E_TRAIN_WORSE,
      `the fine-tuned model scored J&F ${after.mean.toFixed(3)} on validation, the base ${before.mean.toFixed(3)}; nothing was written to ${opts.out} (the candidate is in ${candidate}; --force writes it anyway)`,
      { details: { before: before.mean, after: after.mean, candidate } },
    );
  }
  const out = resolve(opts.out);
  rmSync(out, { recursive: true, force: true });
  renameSync(candidate, out);
  return { bundle: out, interrupted: false, before, after, manifest, workDir, seconds };
}
