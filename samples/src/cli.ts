#!/usr/bin/env node
/**
 * cineseg-samples: renders the synthetic clips (see samples/README.md).
 *   node samples/dist/cli.js --out samples/generated [--kind ultrasound|endoscopy|all]
 *     [--seeds 1,2,3 | --seed-start N --count K] [--frames N] [--size WxH] [--fps N]
 *     [--site a|b|c|d|e] [--raw] [--no-skip-existing] [--no-real] [--quiet]
 * --site renders the same scenes with another simulated hospital's look (samples/src/sites.ts).
 * Seeds 1..999 are reserved for evaluation (the default set is seeds 1, 2, 3); train on >= 1000.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCliArgs, USAGE, UsageError } from './cli-args.js';
import { writeClip } from './clip-writer.js';
import { writeCtVolume } from './ct-volume.js';
import { CLIP_KINDS, type ClipSpec } from './scene.js';

const REAL_FILES = ['ultrasound-catheter.mp4', 'aquarium.mp4', 'aquarium-mask-frame0.png', 'bedroom.mp4', 'SOURCES.md'];

async function main(): Promise<void> {
  const o = parseCliArgs(process.argv.slice(2));
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const out = resolve(o.out);
  const t0 = performance.now();
  let made = 0;
  for (const kind of o.kinds) {
    for (const seed of o.seeds) {
      const spec: ClipSpec = {
        kind,
        seed,
        width: o.width,
        height: o.height,
        fps: o.fps,
        ...(o.frames === undefined ? {} : { frames: o.frames }),
        ...(o.exitRate === undefined ? {} : { exitRate: o.exitRate }),
        ...(o.site === undefined ? {} : { site: o.site }),
      };
      const r = await writeClip(spec, out, { skipExisting: o.skipExisting, raw: o.raw });
      if (!r.skipped) made++;
      if (!o.quiet) process.stdout.write(`${r.skipped ? 'kept ' : 'wrote'} ${r.dir} (${r.frames} frames, ${(r.ms / 1000).toFixed(1)} s)\n`);
    }
  }
  // The default set (--kind all) also holds one CT volume with its labels (ct-volume.ts).
  if (o.kinds.length === CLIP_KINDS.length) {
    const v = writeCtVolume(out, 1, { skipExisting: o.skipExisting });
    if (!o.quiet) process.stdout.write(`${v.skipped ? 'kept ' : 'wrote'} ${v.dir} (CT volume, NIfTI + DICOM series)\n`);
  }
  if (o.checkReal) {
    // The real clips are committed, not generated; a missing one means a broken checkout.
    const realDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'real');
    const missing = REAL_FILES.filter((f) => !existsSync(join(realDir, f)));
    if (missing.length > 0) process.stderr.write(`samples: warning: missing real clips in ${realDir}: ${missing.join(', ')}\n`);
  }
  const total = o.kinds.length * o.seeds.length;
  if (!o.quiet) process.stdout.write(`samples: ${made} clip(s) written, ${total - made} kept, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`E_USAGE: ${err.message}\n${USAGE}\n`);
    process.exit(2);
  }
  const code = (err as { code?: unknown }).code;
  process.stderr.write(`${typeof code === 'string' && code.startsWith('E_') ? code : 'E_INTERNAL'}: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});
