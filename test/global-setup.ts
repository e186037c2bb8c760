/**
 * Vitest global setup: makes sure samples/generated holds the default (held-out) synthetic set,
 * so `npm test` works even when scripts/setup.sh was skipped. Runs the generator in-process from
 * its sources; clips already made by the current generator version are left alone, so this costs
 * nothing after the first run.
 */
import { fileURLToPath } from 'node:url';
import { DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH, writeClip } from '../samples/src/clip-writer.js';
import { DEFAULT_SEEDS } from '../samples/src/cli-args.js';
import { CLIP_KINDS } from '../samples/src/scene.js';

export const GENERATED_DIR = fileURLToPath(new URL('../samples/generated', import.meta.url));

export default async function setup(): Promise<void> {
  for (const kind of CLIP_KINDS) {
    for (const seed of DEFAULT_SEEDS) {
      await writeClip({ kind, seed, width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT, fps: DEFAULT_FPS }, GENERATED_DIR, { skipExisting: true });
    }
  }
}
