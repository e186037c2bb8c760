/**
 * Real-size SAM 2.1 bundles with random weights, exported once and cached: the same graphs,
 * shapes and memory layout as Meta's checkpoints give, for what needs a real-size model's cost
 * but not its masks (the full-size test, the event-loop bench's slow model).
 *
 * `ensureRandomBundle(config, imageSize)` exports with `models.export.export_bundle
 * --random-weights` through Debian's PyTorch (/usr/bin/python3) into
 * .cache/bundles/<config>-<size>-random-seed0-<hash of the exporter's sources>, so a run with an
 * unchanged exporter reuses it, and returns that folder. The export is minutes of CPU: callers that
 * can go without check `canExportBundles()` first.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../paths.js';

export const EXPORT_PYTHON = '/usr/bin/python3';
// Hiera-T at 1024 px took 7 min of CPU (up to 21 min wall on a loaded 2-core box).
const EXPORT_TIMEOUT_MS = 40 * 60_000;

/** Hash of every source file the exported graphs depend on (the model and the exporter, not their tests or tools). */
export function exporterHash(): string {
  const files = readdirSync(join(REPO_ROOT, 'models/sam2'))
    .filter((n) => n.endsWith('.py') && !n.startsWith('test_') && n !== 'check_official.py')
    .map((n) => `models/sam2/${n}`)
    .concat(['models/export/export_bundle.py', 'models/export/fp16.py'])
    .sort();
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(readFileSync(join(REPO_ROOT, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/** Whether this machine can export (PyTorch importable by the exporter's Python). */
export function canExportBundles(): boolean {
  try {
    execFileSync(EXPORT_PYTHON, ['-c', 'import torch, onnx'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** Where the bundle of `config` at `imageSize` lives in the cache (exported or not). */
export function randomBundleDir(config: string, imageSize: number): string {
  return join(REPO_ROOT, '.cache', 'bundles', `${config}-${imageSize}-random-seed0-${exporterHash()}`);
}

/**
 * The cached bundle's folder, exported first when absent; `exportSeconds` is 0 when it was cached.
 * @throws the exporter's error (its stderr in the message) when the export fails
 */
export function ensureRandomBundle(config: string, imageSize: number): { dir: string; exportSeconds: number } {
  const dir = randomBundleDir(config, imageSize);
  if (existsSync(join(dir, 'manifest.json'))) return { dir, exportSeconds: 0 };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(dir, '..'), { recursive: true });
  const t0 = performance.now();
  execFileSync(EXPORT_PYTHON, ['-m', 'models.export.export_bundle', '--config', config, '--random-weights', '--seed', '0', '--no-selftest', '--image-size', String(imageSize), '--out', tmp], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: EXPORT_TIMEOUT_MS,
    maxBuffer: 64 << 20,
  });
  // The manifest is written last, and the rename makes a half-written bundle impossible to reuse.
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another process finished the same export first: keep its copy.
    if (!existsSync(join(dir, 'manifest.json'))) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
  return { dir, exportSeconds: (performance.now() - t0) / 1000 };
}
