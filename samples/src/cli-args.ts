/** Command-line parsing for cineseg-samples, kept apart from main() so it can be tested in-process. */
import { parseArgs } from 'node:util';
import { DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH } from './clip-writer.js';
import { CLIP_KINDS, type ClipKind } from './scene.js';
import { DEFAULT_SITE, SITE_NAMES } from './sites.js';

export const USAGE = `usage: cineseg-samples --out <dir> [--kind ultrasound|endoscopy|all] [--seeds 1,2,3 | --seed-start N --count K]
                       [--frames N] [--size WxH] [--fps N] [--exit-rate 0..1]
                       [--site ${SITE_NAMES.join('|')}] [--raw] [--skip-existing | --no-skip-existing] [--no-real] [--quiet]`;

/** The default (held-out evaluation) seeds. Training uses seeds >= 1000. */
export const DEFAULT_SEEDS: readonly number[] = [1, 2, 3];

export interface CliOptions {
  help: boolean;
  out: string;
  kinds: ClipKind[];
  seeds: number[];
  frames: number | undefined;
  width: number;
  height: number;
  fps: number;
  raw: boolean;
  skipExisting: boolean;
  checkReal: boolean;
  quiet: boolean;
  /** Ultrasound: chance of a structure leaving the fan (training data); undefined = the generator's default. */
  exitRate?: number | undefined;
  /** Simulated hospital site (samples/src/sites.ts); undefined = the default look, site a. */
  site?: string | undefined;
}

/** A usage mistake; main() prints it as `E_USAGE: ...` with the usage text and exits 2. */
export class UsageError extends Error {
  readonly code = 'E_USAGE';
}

function nonNegativeInt(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** Parses argv (without the node and script entries). Throws {@link UsageError} on bad input. */
export function parseCliArgs(argv: readonly string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        out: { type: 'string' },
        kind: { type: 'string', default: 'all' },
        seeds: { type: 'string' },
        'seed-start': { type: 'string' },
        count: { type: 'string' },
        frames: { type: 'string' },
        size: { type: 'string' },
        fps: { type: 'string' },
        'exit-rate': { type: 'string' },
        site: { type: 'string' },
        raw: { type: 'boolean', default: false },
        'skip-existing': { type: 'boolean', default: true },
        'no-skip-existing': { type: 'boolean', default: false },
        'no-real': { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = values;
  if (v.help) {
    return { help: true, out: '', kinds: [], seeds: [], frames: undefined, width: 0, height: 0, fps: 0, raw: false, skipExisting: true, checkReal: false, quiet: false };
  }
  if (!v.out) throw new UsageError('--out is required');
  let kinds: ClipKind[];
  if (v.kind === 'all') kinds = [...CLIP_KINDS];
  else if (CLIP_KINDS.includes(v.kind as ClipKind)) kinds = [v.kind as ClipKind];
  else throw new UsageError(`--kind must be ultrasound, endoscopy or all, got ${JSON.stringify(v.kind)}`);

  let seeds: number[];
  if (v.seeds !== undefined) {
    if (v['seed-start'] !== undefined || v.count !== undefined) throw new UsageError('use either --seeds or --seed-start/--count, not both');
    seeds = v.seeds.split(',').map((s) => nonNegativeInt('--seeds', s.trim()));
  } else if (v['seed-start'] !== undefined || v.count !== undefined) {
    const start = nonNegativeInt('--seed-start', v['seed-start'] ?? '1');
    const count = nonNegativeInt('--count', v.count ?? '1');
    seeds = Array.from({ length: count }, (_, i) => start + i);
  } else {
    seeds = [...DEFAULT_SEEDS];
  }
  if (new Set(seeds).size !== seeds.length) throw new UsageError('--seeds lists a seed twice');

  let width = DEFAULT_WIDTH;
  let height = DEFAULT_HEIGHT;
  if (v.size !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(v.size);
    if (!m) throw new UsageError(`--size must look like 480x360, got ${JSON.stringify(v.size)}`);
    width = Number(m[1]);
    height = Number(m[2]);
    if (width % 2 || height % 2 || width < 64 || height < 64) throw new UsageError(`--size needs even dimensions of at least 64, got ${v.size}`);
  }
  const frames = v.frames === undefined ? undefined : nonNegativeInt('--frames', v.frames);
  if (frames === 0) throw new UsageError('--frames must be at least 1');
  const fps = v.fps === undefined ? DEFAULT_FPS : nonNegativeInt('--fps', v.fps);
  if (fps === 0 || fps > 240) throw new UsageError(`--fps must be 1..240, got ${fps}`);
  let exitRate: number | undefined;
  if (v['exit-rate'] !== undefined) {
    exitRate = Number(v['exit-rate']);
    if (!/^\s*[0-9.]+\s*$/.test(v['exit-rate']) || !(exitRate >= 0 && exitRate <= 1)) {
      throw new UsageError(`--exit-rate must be a number in 0..1, got ${JSON.stringify(v['exit-rate'])}`);
    }
  }
  let site: string | undefined;
  if (v.site !== undefined) {
    if (!SITE_NAMES.includes(v.site)) throw new UsageError(`--site must be one of ${SITE_NAMES.join(', ')}, got ${JSON.stringify(v.site)}`);
    // Site a is the default look; leaving it unset keeps default clips' names and bytes.
    if (v.site !== DEFAULT_SITE) site = v.site;
  }
  return {
    help: false,
    exitRate,
    site,
    out: v.out,
    kinds,
    seeds,
    frames,
    width,
    height,
    fps,
    raw: v.raw,
    skipExisting: v['skip-existing'] && !v['no-skip-existing'],
    checkReal: !v['no-real'],
    quiet: v.quiet,
  };
}
