/**
 * Runs the built CLI (`node engine/dist/cli/main.js`) the way a user does. The build is reused
 * when it is newer than every engine source (CI builds before testing); otherwise it is rebuilt
 * once, under a lock so parallel test files do not write the same files at once.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../model/test-bundle.js';

export const CLI = join(REPO_ROOT, 'engine', 'dist', 'cli', 'main.js');

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return t;
}

export async function ensureBuilt(): Promise<void> {
  const fresh = () => existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource(join(REPO_ROOT, 'engine', 'src'));
  if (fresh()) return;
  const lock = join(REPO_ROOT, 'engine', '.build-lock');
  for (let i = 0; i < 600; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (fresh()) return;
    const r = spawnSync('npx', ['tsc', '-p', join(REPO_ROOT, 'engine')], { cwd: REPO_ROOT, encoding: 'utf8' });
    // tsc still emits when some other file has a type error; only a missing CLI is fatal here.
    if (!existsSync(CLI)) throw new Error(`engine build failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmdirSync(lock);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cineseg <args>` in `cwd` (default: a folder other than the repository). */
export function cineseg(args: string[], cwd = '/tmp'): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, CINESEG_MODEL: '' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export function sampleExists(name: string): boolean {
  return existsSync(join(REPO_ROOT, 'samples', 'generated', name, 'gt.json'));
}
