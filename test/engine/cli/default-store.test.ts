/**
 * The store's default is one per user and is stated once: `cineseg serve` with no --store and no
 * $CINESEG_STORE, run from a throwaway folder under a throwaway $HOME, makes
 * ~/.local/share/cineseg/cineseg.db (or the one under $XDG_DATA_HOME) and says so in one stderr
 * line; a second run, from another folder, opens the same file and says nothing; `export --list`
 * from a third folder reads it; a named --store is never announced.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt } from './track-helpers.js';
import { testBundleDir } from '../model/test-bundle.js';

const LINE = /^cineseg: annotations are stored in (.+) \(set CINESEG_STORE or --store to change\)$/gm;

let tmp: string;
let media: string;

beforeAll(async () => {
  await ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-default-store-'));
  media = join(tmp, 'media');
  mkdirSync(media);
}, 600_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The environment of a user whose home is `home`: no store named, unless `extra` names one. */
function userEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, CINESEG_MODEL: '', CINESEG_TOKEN: '' };
  delete env.CINESEG_STORE;
  delete env.XDG_DATA_HOME;
  return { ...env, ...extra };
}

/** Runs `cineseg <args>` in `cwd` until it exits, or, for serve, until it listens (then SIGTERM). */
function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  mkdirSync(cwd, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env });
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cineseg ${args[0]} did not finish:\n${stdout}${stderr}`));
    }, 120_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (args[0] === 'serve' && /cineseg serving on http:\/\//.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const serveArgs = () => ['serve', '--port', '0', '--ep', 'cpu', '--threads', '1', '--model', testBundleDir(), '--media', media];

describe('the default store', () => {
  it('is ~/.local/share/cineseg/cineseg.db, announced once, found from any folder', async () => {
    const home = join(tmp, 'home-a');
    mkdirSync(home);
    const env = userEnv(home);
    const want = join(home, '.local', 'share', 'cineseg', 'cineseg.db');

    const first = await run(serveArgs(), join(tmp, 'work-1'), env);
    expect(first.stdout).toMatch(/cineseg serving on http:\/\//);
    expect([...first.stderr.matchAll(LINE)].map((m) => m[1])).toEqual([want]);
    expect(existsSync(want)).toBe(true);
    // Nothing in the folder the command ran from.
    expect(readdirSync(join(tmp, 'work-1'))).toEqual([]);

    const second = await run(serveArgs(), join(tmp, 'work-2'), env);
    expect(second.stdout).toMatch(/cineseg serving on http:\/\//);
    expect(second.stderr).not.toMatch(/annotations are stored in/);

    const list = await run(['export', '--list', '--json'], join(tmp, 'work-3'), env);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  }, 300_000);

  it('follows $XDG_DATA_HOME, and a named store is never announced', async () => {
    const home = join(tmp, 'home-b');
    const xdg = join(tmp, 'xdg-data');
    mkdirSync(home);
    const viaXdg = await run(serveArgs(), join(tmp, 'work-4'), userEnv(home, { XDG_DATA_HOME: xdg }));
    expect([...viaXdg.stderr.matchAll(LINE)].map((m) => m[1])).toEqual([join(xdg, 'cineseg', 'cineseg.db')]);
    expect(existsSync(join(home, '.local'))).toBe(false);

    const home2 = join(tmp, 'home-c');
    mkdirSync(home2);
    const named = await run([...serveArgs(), '--store', 'x.db'], join(tmp, 'work-5'), userEnv(home2));
    expect(named.stdout).toMatch(/cineseg serving on http:\/\//);
    expect(named.stderr).not.toMatch(/annotations are stored in/);
    expect(existsSync(join(tmp, 'work-5', 'x.db'))).toBe(true);
    expect(existsSync(join(home2, '.local'))).toBe(false);

    const byEnv = await run(serveArgs(), join(tmp, 'work-6'), userEnv(home2, { CINESEG_STORE: join(tmp, 'env.db') }));
    expect(byEnv.stdout).toMatch(/cineseg serving on http:\/\//);
    expect(byEnv.stderr).not.toMatch(/annotations are stored in/);
    expect(existsSync(join(tmp, 'env.db'))).toBe(true);
    expect(existsSync(join(home2, '.local'))).toBe(false);
  }, 300_000);
});
