/**
 * The public API (engine/src/index.ts, docs/api.md): the names `cineseg` exports are exactly the
 * ones docs/api.md lists, the `exports` map lets nothing else be imported, and the page's first
 * example runs as written (track a clip into a SQLite store, export COCO).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as cineseg from 'cineseg';
import { GENERATED_DIR } from '../global-setup.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
const INDEX = readFileSync(join(ROOT, 'engine', 'src', 'index.ts'), 'utf8');

/** The surface table of docs/api.md: its value and type names, by column. */
function documented(): { values: Set<string>; types: Set<string> } {
  const table = DOC.split('<!-- api:begin -->')[1]!.split('<!-- api:end -->')[0]!;
  const values = new Set<string>();
  const types = new Set<string>();
  for (const row of table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| group'))) {
    const [, v = '', t = ''] = row
      .split('|')
      .slice(1)
      .map((c) => c.trim());
    for (const m of v.matchAll(/`(\w+)`/g)) values.add(m[1]!);
    for (const m of t.matchAll(/`(\w+)`/g)) types.add(m[1]!);
  }
  return { values, types };
}

/** Names of index.ts's export lists that are types only (`export type {…}` or `type X` in a list). */
function typeExports(): Set<string> {
  const out = new Set<string>();
  for (const m of INDEX.matchAll(/export (type )?\{([^}]*)\}/g)) {
    for (const item of m[2]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const typeOnly = m[1] !== undefined || item.startsWith('type ');
      if (typeOnly)
        out.add(
          item
            .replace(/^type /, '')
            .split(' as ')[0]!
            .trim(),
        );
    }
  }
  return out;
}

describe('the public API', () => {
  it('exports exactly the values docs/api.md lists', () => {
    expect(Object.keys(cineseg).sort()).toEqual([...documented().values].sort());
  });

  it('exports exactly the types docs/api.md lists', () => {
    // ErrorCode is a value and a type of one name; the type column lists it too.
    const types = new Set([...typeExports(), 'ErrorCode']);
    expect([...types].sort()).toEqual([...documented().types].sort());
  });

  it('keeps bench and CLI internals out', () => {
    const sources = [...INDEX.matchAll(/from '\.\/([^']+)'/g)].map((m) => m[1]!);
    expect(sources.filter((s) => /^(bench|cli)\//.test(s))).toEqual([]);
  });

  it('lets only the package root and cineseg/protocol be imported (the exports map)', () => {
    // Resolved by Node itself from the repository (node_modules/cineseg is the engine workspace).
    const resolve = (spec: string): string =>
      execFileSync(process.execPath, ['--input-type=module', '-e', `try { console.log(import.meta.resolve(${JSON.stringify(spec)})) } catch (e) { console.log(e.code) }`], {
        cwd: ROOT,
        encoding: 'utf8',
      }).trim();
    expect(resolve('cineseg')).toMatch(/engine\/dist\/index\.js$/);
    expect(resolve('cineseg/protocol')).toMatch(/engine\/dist\/protocol\.js$/);
    expect(resolve('cineseg/dist/cli/main.js')).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(resolve('cineseg/dist/bench/main.js')).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  describe('the first example of docs/api.md', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cineseg-api-'));
    const cwd = process.cwd();
    afterAll(() => {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    });

    it('tracks a clip into a store and exports COCO, as written', async () => {
      const code = /```ts\n([\s\S]*?)```/.exec(DOC)![1]!;
      copyFileSync(join(GENERATED_DIR, 'ultrasound-1', 'clip.mp4'), join(dir, 'clip.mp4'));
      writeFileSync(join(dir, 'example.ts'), code);
      // The example names its files relative to where it runs.
      process.chdir(dir);
      await import(join(dir, 'example.ts'));
      const coco = JSON.parse(readFileSync(join(dir, 'masks.coco.json'), 'utf8')) as { images: unknown[]; annotations: { image_id: number; area: number }[] };
      expect(coco.images).toHaveLength(90);
      // One object tracked through the whole clip: a mask of about the box's size on every frame.
      expect(coco.annotations).toHaveLength(90);
      for (const a of coco.annotations) expect(a.area).toBeGreaterThan(500);
    });
  });
});
