/**
 * engine/src/paths.ts is the one module that knows the repository's layout: what it names exists
 * in a set-up checkout, $CINESEG_MODEL overrides the bundle, and no other engine file climbs out of
 * its own folder to find the repository (it imports paths.ts instead).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_MAIN, GENERATED_SAMPLES_DIR, MODELS_DIR, PLAYER_DIST_DIR, REAL_SAMPLES_DIR, REPO_ROOT, SHIPPED_BUNDLE_DIR, cacheDir, defaultBundleDir, defaultMediaDirs } from '../../engine/src/paths.js';

const SRC = join(REPO_ROOT, 'engine', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('paths.ts', () => {
  const saved = process.env.CINESEG_MODEL;
  afterEach(() => {
    if (saved === undefined) delete process.env.CINESEG_MODEL;
    else process.env.CINESEG_MODEL = saved;
  });

  it('names folders that exist in the repository', () => {
    expect(existsSync(join(REPO_ROOT, 'CONTRIBUTING.md'))).toBe(true);
    expect(existsSync(join(SHIPPED_BUNDLE_DIR, 'manifest.json'))).toBe(true);
    expect(existsSync(join(MODELS_DIR, 'finetune'))).toBe(true);
    for (const d of [GENERATED_SAMPLES_DIR, REAL_SAMPLES_DIR]) expect(existsSync(d)).toBe(true);
    expect(defaultMediaDirs()).toEqual([GENERATED_SAMPLES_DIR, REAL_SAMPLES_DIR]);
    expect(relative(REPO_ROOT, PLAYER_DIST_DIR)).toBe(join('player', 'dist'));
    expect(relative(REPO_ROOT, CLI_MAIN)).toBe(join('engine', 'dist', 'cli', 'main.js'));
    expect(relative(REPO_ROOT, cacheDir('hls'))).toBe(join('.cache', 'hls'));
  });

  it('takes the bundle from $CINESEG_MODEL, else the shipped one', () => {
    delete process.env.CINESEG_MODEL;
    expect(defaultBundleDir()).toBe(SHIPPED_BUNDLE_DIR);
    process.env.CINESEG_MODEL = 'some/bundle';
    expect(defaultBundleDir()).toBe(join(process.cwd(), 'some', 'bundle'));
  });

  it('is the only engine file that finds the repository from its own location', () => {
    // `../` out of a module's folder (import.meta.url plus '..', or a URL starting with ../) is how a
    // file learns the repository's layout; same-folder URLs (a worker script beside its module) are fine.
    const climbs = /new URL\(['"]\.\.\/|import\.meta\.url\)\)?\s*,\s*['"]\.\.['"]|['"]\.\.['"]\s*,\s*['"]\.\.['"]/;
    const offenders = sources(SRC)
      .filter((f) => f !== join(SRC, 'paths.ts'))
      .filter((f) => climbs.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(offenders).toEqual([]);
  });
});
