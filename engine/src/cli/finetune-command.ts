/**
 * `cineseg finetune --data <clip>:<masks.json> [--data …] [--session <id> …] [--base <bundle>] --out <dir>`:
 * a site's annotations → a fine-tuned bundle, validated against the base (engine/src/adapt/).
 * Without --data and --session it learns from every approved session of the store.
 * Progress is a bar on a terminal (step, loss, ETA) and one line every 25 steps otherwise;
 * Ctrl-C leaves a resumable checkpoint (`--resume` goes on from it).
 */
import type { Command } from 'commander';
import { FINETUNE_DEFAULTS, finetune, type EncoderMode, type FinetuneMode, type FinetuneResult } from '../adapt/finetune.js';
import type { TrainerEvent } from '../adapt/trainer-process.js';
import type { ValidationSplit } from '../adapt/site-validation.js';
import { parseDataArg, storedSessionInputs, type AnnotatedClipInput } from '../adapt/training-data.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { defaultStoreSpec } from '../store/open-store.js';
import { STORE_SPEC_HELP, withStoreReadonly } from './store-option.js';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function num(v: unknown, name: string, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    throw new CinesegError(ErrorCode.E_USAGE, `${name} must be a non-negative ${integer ? 'integer' : 'number'}, got "${String(v)}"`);
  return n;
}

/**
 * Stored sessions as training inputs: their current masks (corrections included) as VIS JSON;
 * with no ids, every approved session of the store (training-data.ts storedSessionInputs).
 */
export async function sessionInputs(ids: readonly string[] | 'approved', storeSpec: string): Promise<AnnotatedClipInput[]> {
  if (ids !== 'approved' && ids.length === 0) return [];
  return withStoreReadonly(
    storeSpec,
    (at) => `no store at ${at} (use --store)`,
    (store) => storedSessionInputs(store, ids === 'approved' ? undefined : ids),
  );
}

function fmtTime(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}

/** Progress for trainer events: a redrawn bar on a TTY, else a line every `every` steps. */
export function trainerProgress(write: (s: string) => void, tty: boolean, every = 25): { onEvent: (e: TrainerEvent) => void; end: () => void } {
  let drawn = false;
  return {
    onEvent(e) {
      if (e.event === 'resume') {
        write(`${tty ? '\n' : ''}finetune: resuming from step ${String(e.step)}\n`);
        return;
      }
      if (e.event === 'features') {
        if (!tty) write(`features: ${String(e.clip)} (${String(e.frames)} frames)\n`);
        return;
      }
      if (e.event !== 'step') return;
      const step = Number(e.step);
      const steps = Number(e.steps);
      const line = `step ${step}/${steps} loss ${Number(e.lossEma).toFixed(4)} ETA ${fmtTime(Number(e.etaS))}`;
      if (tty) {
        const width = 24;
        const fill = Math.round((width * step) / Math.max(1, steps));
        write(`\rfinetune [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${line}   `);
        drawn = true;
      } else if (step % every === 0 || step === steps) write(`finetune ${line}\n`);
    },
    end() {
      if (drawn) write('\n');
      drawn = false;
    },
  };
}

/** The validation table the command prints. */
export function formatValidation(r: FinetuneResult): string {
  if (!r.before || !r.after) return '';
  const rows = r.after.items.map((a, i) => {
    const b = r.before!.items[i]!;
    const name = `${a.clip.split('/').slice(-2).join('/')} #${a.objectId} (frames ${a.startFrame}-${a.endFrame})`;
    return `  ${name.padEnd(52)} mask ${b.mask.toFixed(3)} -> ${a.mask.toFixed(3)}   click ${b.click.toFixed(3)} -> ${a.click.toFixed(3)}`;
  });
  return [
    'validation (held-out frames, J&F, base -> fine-tuned):',
    ...rows,
    `  ${'mean'.padEnd(52)} mask ${r.before.mask.toFixed(3)} -> ${r.after.mask.toFixed(3)}   click ${r.before.click.toFixed(3)} -> ${r.after.click.toFixed(3)}`,
  ].join('\n');
}

export function registerFinetune(program: Command): void {
  program
    .command('finetune')
    .description('adapt a model to a site: train on its annotated clips or stored sessions, validate against the base, write a new bundle')
    .option('--data <clip:masks.json>', 'a clip and its YouTube-VIS masks (COCO RLE); masks.json alone uses videos[0].file (repeatable)', collect)
    .option('--session <id>', 'a stored session: its current masks, corrections included (repeatable); with neither --data nor --session, every approved session of --store', collect)
    .option('--store <file|url>', `session store for --session and the approved sessions: ${STORE_SPEC_HELP}`)
    .option('--base <bundle>', 'bundle to start from (default: the shipped tiny bundle)')
    .option('--checkpoint <file.pt>', "the base bundle's source weights (default: found beside it, checked by sha256)")
    .option('--out <bundle-dir>', 'folder for the new bundle (never the base)')
    .option('--name <name>', 'bundle name (default: <base>-site)')
    .option('--mode <lora|full>', 'LoRA adapters on memory attention and decoder (merged at export), or every weight after the image encoder', FINETUNE_DEFAULTS.mode)
    .option('--encoder <frozen|lora|train>', 'the image encoder: frozen (its features computed once per frame), LoRA adapters too, or trained', FINETUNE_DEFAULTS.encoder)
    .option('--rank <r>', 'LoRA rank', String(FINETUNE_DEFAULTS.rank))
    .option('--steps <n>', 'training steps (2 windows of 8 frames each)', String(FINETUNE_DEFAULTS.steps))
    .option('--minutes <m>', 'stop training after this wall time (0 = no cap)', String(FINETUNE_DEFAULTS.minutes))
    .option('--lr <rate>', 'learning rate (default 1e-3 for lora, 1.5e-4 for full)')
    .option('--seed <n>', 'random seed', String(FINETUNE_DEFAULTS.seed))
    .option(
      '--motion-aug <p>',
      'share of training windows moved along a simulated camera drift, so the model follows appearance rather than position (not with --encoder frozen)',
      String(FINETUNE_DEFAULTS.motionAug),
    )
    .option('--val-fraction <f>', 'share of every clip, at its end, held out for validation', String(FINETUNE_DEFAULTS.valFraction))
    .option('--val-split <auto|time|clips>', 'validate on clip tails (time), on whole clips held out (clips), or auto: whole clips once a kind has 4', FINETUNE_DEFAULTS.valSplit)
    .option('--threads <n>', 'trainer threads (1 is fastest on a shared 2-core machine)', '1')
    .option('--work-dir <dir>', 'raw training data and resumable checkpoints (default: <out>.work)')
    .option('--resume', 'go on from the checkpoint an interrupted run left in the work folder')
    .option('--force', 'write the bundle even when it scored lower than the base, or replace a non-empty --out')
    .action(async (o: Record<string, unknown>) => {
      if (!o.out) throw new CinesegError(ErrorCode.E_USAGE, 'missing --out <bundle-dir> (see cineseg finetune --help)');
      const data = ((o.data as string[] | undefined) ?? []).map(parseDataArg);
      const sessions = (o.session as string[] | undefined) ?? [];
      // Nothing named: what people approved in the store (GET /api/sessions/:id/approve, the player's "done").
      data.push(...(await sessionInputs(data.length === 0 && sessions.length === 0 ? 'approved' : sessions, String(o.store ?? defaultStoreSpec()))));
      const ac = new AbortController();
      const onSig = () => {
        process.stderr.write('\nfinetune: stopping after this step (a resumable checkpoint is kept)…\n');
        ac.abort();
      };
      process.once('SIGINT', onSig);
      const progress = trainerProgress((s) => process.stderr.write(s), Boolean(process.stderr.isTTY));
      try {
        const res = await finetune({
          data,
          out: String(o.out),
          ...(o.base ? { base: String(o.base) } : {}),
          ...(o.checkpoint ? { checkpoint: String(o.checkpoint) } : {}),
          ...(o.name ? { name: String(o.name) } : {}),
          mode: String(o.mode) as FinetuneMode,
          encoder: String(o.encoder) as EncoderMode,
          rank: num(o.rank, '--rank', true)!,
          steps: num(o.steps, '--steps', true)!,
          minutes: num(o.minutes, '--minutes', false)!,
          ...(o.lr === undefined ? {} : { lr: num(o.lr, '--lr', false)! }),
          seed: num(o.seed, '--seed', true)!,
          motionAug: num(o.motionAug, '--motion-aug', false)!,
          valFraction: num(o.valFraction, '--val-fraction', false)!,
          valSplit: String(o.valSplit) as ValidationSplit,
          threads: num(o.threads, '--threads', true)!,
          ...(o.workDir ? { workDir: String(o.workDir) } : {}),
          resume: Boolean(o.resume),
          force: Boolean(o.force),
          onEvent: progress.onEvent,
          log: (l) => process.stderr.write(`${l}\n`),
          signal: ac.signal,
        });
        progress.end();
        if (res.interrupted) {
          process.stdout.write(`interrupted: checkpoint kept in ${res.workDir}; run the same command with --resume to go on\n`);
          process.exitCode = 130;
          return;
        }
        process.stdout.write(`${formatValidation(res)}\nwrote ${res.bundle} in ${res.seconds.toFixed(0)} s; track with --model ${String(o.out)}\n`);
      } finally {
        progress.end();
        process.removeListener('SIGINT', onSig);
      }
    });
}
