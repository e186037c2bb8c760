/**
 * The broken bundles of test/fixtures/bad-bundles (recipes on a temporary copy of the shipped
 * bundle): each is refused with its E_BUNDLE_* code by loadBundle (manifest faults) or by
 * ModelSessions (graph faults), before any frame, and `startServer({model})` refuses to start
 * with the same code. The CLI (`cineseg track --model`) runs them in test/engine/cli.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCinesegError } from '../../../engine/src/errors.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { startServer } from '../../../engine/src/server/http-server.js';
import { loadBadBundles, makeBadBundle } from './bad-bundle-corpus.js';
import { TRAINED_BUNDLE } from './test-bundle.js';

const cases = loadBadBundles();
const tmp = mkdtempSync(join(tmpdir(), 'cineseg-badbundle-'));

/** sha256 of every file of the shipped bundle: the recipes must never write through to it. */
function bundleDigest(): string {
  const h = createHash('sha256');
  for (const f of readdirSync(TRAINED_BUNDLE).sort()) {
    const p = join(TRAINED_BUNDLE, f);
    if (statSync(p).isFile()) h.update(f).update(readFileSync(p));
  }
  return h.digest('hex');
}
const digestBefore = bundleDigest();

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  expect(bundleDigest()).toBe(digestBefore);
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'no error';
  } catch (e) {
    if (isCinesegError(e)) {
      expect(e.message).not.toContain('\n');
      return e.code;
    }
    throw e;
  }
}

describe('the bad bundle corpus', () => {
  it('has at least 10 cases, every one with an E_BUNDLE_* code', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
    for (const c of cases) expect(c.expect, c.name).toMatch(/^E_BUNDLE_[A-Z_]+$/);
    expect(cases.filter((c) => c.at === 'sessions').length).toBeGreaterThanOrEqual(4);
  });
});

describe.each(cases)('$name', (c) => {
  const dir = join(tmp, c.name);

  it(`${c.at === 'load' ? 'loadBundle' : 'ModelSessions'} refuses it with ${c.expect}`, async () => {
    makeBadBundle(c, dir);
    if (c.at === 'load') {
      expect(await codeOf(() => loadBundle(dir))).toBe(c.expect);
    } else {
      // The manifest is fine; only opening the graphs can tell.
      const bundle = loadBundle(dir);
      expect(await codeOf(ModelSessions.create(bundle, { ep: 'cpu' }))).toBe(c.expect);
      // The default (auto) provider choice must not turn a bundle fault into "no provider".
      expect(await codeOf(ModelSessions.create(bundle))).toBe(c.expect);
    }
  });

  it(`startServer({model}) refuses to start with ${c.expect}`, async () => {
    let server: Awaited<ReturnType<typeof startServer>> | null = null;
    const code = await codeOf(
      (async () => {
        server = await startServer({ port: 0, model: dir, ep: 'cpu', media: [], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
      })(),
    );
    await (server as { destroy(): Promise<void> } | null)?.destroy();
    expect(code).toBe(c.expect);
  });
});
