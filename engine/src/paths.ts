/**
 * Where cineseg finds the files it ships beside its code (the Python trainer, the OpenBLAS that
 * setup unpacks for it), resolved from this module's own location so commands work from any
 * working directory. engine/src or engine/dist → the repository root is two levels up.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The Python interpreter that has Debian's torch (setup installs python3-torch for it). */
export function pythonExecutable(): string {
  return process.env.CINESEG_PYTHON ?? '/usr/bin/python3';
}

/**
 * OpenBLAS for the trainer: Debian's torch links the reference BLAS (~15x slower on matmuls);
 * `scripts/setup.sh` unpacks libopenblas0-pthread here without installing it system-wide.
 */
export function trainerBlasDir(): string {
  return join(REPO_ROOT, '.cache', 'openblas', 'usr', 'lib', 'x86_64-linux-gnu', 'openblas-pthread');
}
