/**
 * The one module that knows the repository's layout: every default that points into its folders
 * (the shipped model bundle, the built player, the sample clips, the caches, the Python trainer
 * and its OpenBLAS) is resolved here, from this module's own location, so commands work from any
 * working directory. The store's default is not here: it is per user, not in the repository
 * (store/open-store.ts).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** engine/src or engine/dist (where this module runs from) → the repository root, two levels up. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** models/: the shipped bundle, the exporters and the trainer (run from the root as `models.…`). */
export const MODELS_DIR = join(REPO_ROOT, 'models');

/** The bundle cineseg ships (trained on the synthetic samples). */
export const SHIPPED_BUNDLE_DIR = join(MODELS_DIR, 'tiny', 'bundle');

/** samples/generated: the synthetic clips `npm run samples` writes, one folder per clip. */
export const GENERATED_SAMPLES_DIR = join(REPO_ROOT, 'samples', 'generated');

/** samples/real: the small real clips committed with the repository. */
export const REAL_SAMPLES_DIR = join(REPO_ROOT, 'samples', 'real');

/** The built player `cineseg serve` hands out (`npm run build -w player`). */
export const PLAYER_DIST_DIR = join(REPO_ROOT, 'player', 'dist');

/** The built CLI (`engine/dist/cli/main.js`), for what runs `cineseg` as a child process. */
export const CLI_MAIN = join(REPO_ROOT, 'engine', 'dist', 'cli', 'main.js');

/**
 * The model bundle used when none is named: $CINESEG_MODEL, else the shipped one, found relative
 * to this package's files rather than the working directory, so `cineseg track` works from anywhere.
 */
export function defaultBundleDir(): string {
  return process.env.CINESEG_MODEL ? resolve(process.env.CINESEG_MODEL) : SHIPPED_BUNDLE_DIR;
}

/** The media folders `cineseg serve` lists when none are named: the samples, generated and real. */
export function defaultMediaDirs(): string[] {
  return [GENERATED_SAMPLES_DIR, REAL_SAMPLES_DIR];
}

/** A folder under the repository's `.cache/` (git-ignored: everything there can be made again). */
export function cacheDir(...parts: string[]): string {
  return join(REPO_ROOT, '.cache', ...parts);
}

/** The Python interpreter that has Debian's torch (setup installs python3-torch for it). */
export function pythonExecutable(): string {
  return process.env.CINESEG_PYTHON ?? '/usr/bin/python3';
}

/**
 * OpenBLAS for the trainer: Debian's torch links the reference BLAS (~15x slower on matmuls);
 * `scripts/setup.sh` unpacks libopenblas0-pthread here without installing it system-wide.
 */
export function trainerBlasDir(): string {
  return cacheDir('openblas', 'usr', 'lib', 'x86_64-linux-gnu', 'openblas-pthread');
}
