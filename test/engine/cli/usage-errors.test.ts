/**
 * The command line's paper cuts, as a new user meets them: a missing required option is one coded
 * line with a pointer to --help (not the whole help page), an output folder that does not exist is
 * a coded error (no folders made from the root), and `serve --media` with a mistyped folder stops
 * instead of serving an empty list.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { cineseg, ensureBuilt } from './track-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-usage-'));
const AQ = join(REPO_ROOT, 'samples', 'real', 'aquarium.mp4');

beforeAll(async () => {
  await ensureBuilt();
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('cineseg usage errors', () => {
  it('a missing required option: one E_USAGE line naming it and where help is, exit 2', async () => {
    const r = await cineseg(['track', AQ, '--point', '0:1,1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("E_USAGE: required option '--out <masks.json>' not specified (see cineseg track --help)");
    const u = await cineseg(['bogus']);
    expect([u.code, u.stderr.trim()]).toEqual([2, "E_USAGE: unknown command 'bogus' (see cineseg --help)"]);
    const v = await cineseg(['--version']);
    expect([v.code, v.stdout.trim(), v.stderr]).toEqual([0, '0.1.0', '']);
  });

  it('an --out in a folder that does not exist: E_OUTPUT_WRITE, and nothing is created', async () => {
    const out = join(tmp, 'no', 'such', 'x.json');
    const r = await cineseg(['track', AQ, '--model', testBundleDir(), '--point', '0:1,1', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_OUTPUT_WRITE: --out .*x\.json: the folder .*such does not exist/m);
    expect(existsSync(join(tmp, 'no'))).toBe(false);
  });

  it('serve --media with a folder that does not exist stops with E_INPUT_NOT_FOUND', async () => {
    const r = await cineseg(['serve', '--media', join(tmp, 'missing'), '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_INPUT_NOT_FOUND: --media .*missing: no such folder$/m);
  }, 60_000);
});
