#!/usr/bin/env node
/**
 * cineseg-samples: renders the synthetic clips.
 *   node samples/dist/cli.js --out samples/generated [--kind ultrasound|endoscopy|all]
 *     [--seeds 1,2,3 | --seed-start N --count K] [--frames N] [--size WxH] [--fps N]
 *     [--raw] [--no-skip-existing] [--quiet]
 * Seeds 1..999 are reserved for evaluation (the default set is seeds 1, 2, 3); train on >= 1000.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH, writeClip } from './clip-writer.js';
import { CLIP_KINDS, type ClipKind, type ClipSpec } from './scene.js';

const USAGE = `usage: cineseg-samples --out <dir> [--kind ultrasound|endoscopy|all] [--seeds 1,2,3 | --seed-start N --count K]
                       [--frames N] [--size WxH] [--fps N] [--raw] [--skip-existing | --no-skip-existing] [--quiet]`;

function fail(message: string): never {
  process.stderr.write(`E_USAGE: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        out: { type: 'string' },
        kind: { type: 'string', default: 'all' },
        seeds: { type: 'string' },
        'seed-start': { type: 'string' },
        count: { type: 'string' },
        frames: { type: 'string' },
        size: { type: 'string' },
        fps: { type: 'string' },
        raw: { type: 'boolean', default: false },
        'skip-existing': { type: 'boolean', default: true },
        'no-skip-existing': { type: 'boolean', default: false },
        'no-real': { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!v.out) fail('--out is required');
  const kinds: ClipKind[] = v.kind === 'all' ? [...CLIP_KINDS] : CLIP_KINDS.includes(v.kind as ClipKind) ? [v.kind as ClipKind] : fail(`unknown --kind ${v.kind}`);
  let seeds: number[];
  if (v.seeds !== undefined) {
    if (v['seed-start'] !== undefined || v.count !== undefined) fail('use either --seeds or --seed-start/--count');
    seeds = v.seeds.split(',').map((s) => positiveInt('--seeds', s.trim()));
  } else if (v['seed-start'] !== undefined || v.count !== undefined) {
    const start = positiveInt('--seed-start', v['seed-start'] ?? '1');
    const count = positiveInt('--count', v.count ?? '1');
    seeds = Array.from({ length: count }, (_, i) => start + i);
  } else {
    seeds = [1, 2, 3];
  }
  let width = DEFAULT_WIDTH;
  let height = DEFAULT_HEIGHT;
  if (v.size !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(v.size);
    if (!m) fail(`--size must look like 480x360, got ${v.size}`);
    width = Number(m[1]);
    height = Number(m[2]);
    if (width % 2 || height % 2 || width < 64 || height < 64) fail('--size needs even dimensions of at least 64');
  }
  const frames = v.frames === undefined ? undefined : positiveInt('--frames', v.frames);
  if (frames === 0) fail('--frames must be at least 1');
  const fps = v.fps === undefined ? DEFAULT_FPS : positiveInt('--fps', v.fps);
  const skipExisting = v['skip-existing'] && !v['no-skip-existing'];
  const out = resolve(v.out);
  const t0 = performance.now();
  let made = 0;
  for (const kind of kinds) {
    for (const seed of seeds) {
      const spec: ClipSpec = { kind, seed, width, height, fps, ...(frames === undefined ? {} : { frames }) };
      const r = await writeClip(spec, out, { skipExisting, raw: v.raw });
      if (!r.skipped) made++;
      if (!v.quiet) process.stdout.write(`${r.skipped ? 'kept' : 'wrote'} ${r.dir} (${r.frames} frames, ${(r.ms / 1000).toFixed(1)} s)\n`);
    }
  }
  if (!v.quiet) process.stdout.write(`samples: ${made} clip(s) written, ${kinds.length * seeds.length - made} kept, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

main().catch((err: unknown) => {
  const code = (err as { code?: unknown }).code;
  process.stderr.write(`${typeof code === 'string' ? code : 'E_INTERNAL'}: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});
