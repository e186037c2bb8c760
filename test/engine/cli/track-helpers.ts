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

export interface QualityResult {
  withMemory: number;
  withoutMemory: number;
  stdout: string;
}

/**
 * Tracks a held-out synthetic sample (samples/generated/<name>) through the CLI from its
 * prompts.json masks, with and without memory, and scores both with `cineseg eval`.
 */
export async function qualityRun(name: string, tmp: string): Promise<QualityResult> {
  const dir = join(REPO_ROOT, 'samples', 'generated', name);
  const { readFileSync } = await import('node:fs');
  const prompts = JSON.parse(readFileSync(join(dir, 'prompts.json'), 'utf8')) as { objects: { object_id: number; args: { mask: string[] } }[] };
  const args: string[] = [];
  for (const o of prompts.objects) {
    const [flag, value] = o.args.mask as [string, string];
    const i = value.indexOf(':');
    args.push('--object', String(o.object_id), flag, `${value.slice(0, i)}:${join(dir, value.slice(i + 1))}`);
  }
  // CINESEG_TEST_MODEL checks a candidate bundle against these thresholds before it is shipped.
  const model = process.env.CINESEG_TEST_MODEL ? ['--model', process.env.CINESEG_TEST_MODEL] : [];
  const score = async (extra: string[], out: string): Promise<{ jf: number; stdout: string }> => {
    const r = await cineseg(['track', join(dir, 'clip.mp4'), ...model, ...args, ...extra, '--out', out]);
    if (r.code !== 0) throw new Error(`track failed (${r.code}): ${r.stderr}`);
    const e = await cineseg(['eval', '--pred', out, '--gt', join(dir, 'gt.json'), '--json']);
    if (e.code !== 0) throw new Error(`eval failed (${e.code}): ${e.stderr}`);
    return { jf: (JSON.parse(e.stdout) as { mean: { JF: number } }).mean.JF, stdout: r.stdout };
  };
  const [a, b] = await Promise.all([score([], join(tmp, `${name}.json`)), score(['--no-memory'], join(tmp, `${name}-nomem.json`))]);
  process.stderr.write(`${name}: J&F ${a.jf.toFixed(3)} with memory, ${b.jf.toFixed(3)} without\n`);
  return { withMemory: a.jf, withoutMemory: b.jf, stdout: a.stdout };
}

export function sampleExists(name: string): boolean {
  return existsSync(join(REPO_ROOT, 'samples', 'generated', name, 'gt.json'));
}
