/**
 * The broken model bundles of test/fixtures/bad-bundles: each case is a recipe (steps) applied to
 * a temporary copy of the shipped bundle, so the repository holds a few kB of JSON instead of
 * 25 copies of the graphs. Not a test file itself.
 *
 * Steps (paths relative to the bundle; manifest paths are JSON pointers):
 *   {"delete": file}  {"write": file, "text": s}  {"write": file, "randomBytes": n, "seed": k}
 *   {"truncate": file, "fraction": f}  {"copy": file, "to": file}  {"symlink": file, "target": path}
 *   {"set": "/json/pointer", "value": v}  {"remove": "/json/pointer"}
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mulberry32 } from '../../fixtures/prng.mjs';
import { REPO_ROOT, TRAINED_BUNDLE } from './test-bundle.js';

export const BAD_BUNDLES = join(REPO_ROOT, 'test', 'fixtures', 'bad-bundles');

export type Step =
  | { delete: string }
  | { write: string; text?: string; randomBytes?: number; seed?: number }
  | { truncate: string; fraction: number }
  | { copy: string; to: string }
  | { symlink: string; target: string }
  | { set: string; value: unknown }
  | { remove: string };

export interface BadBundle {
  name: string;
  what: string;
  steps: Step[];
  /** The E_BUNDLE_* code. */
  expect: string;
  /** Where it is caught: reading the manifest (loadBundle) or opening the graphs (ModelSessions). */
  at: 'load' | 'sessions';
}

export function loadBadBundles(): BadBundle[] {
  return readdirSync(BAD_BUNDLES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: basename(f, '.json'), ...(JSON.parse(readFileSync(join(BAD_BUNDLES, f), 'utf8')) as Omit<BadBundle, 'name'>) }));
}

function prngBytes(n: number, seed: number): Buffer {
  const next = mulberry32(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = next() & 0xff;
  return b;
}

function pointer(obj: unknown, path: string): { parent: Record<string, unknown>; key: string } {
  const keys = path
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  let cur = obj as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) throw new Error(`recipe: ${path} does not exist in the manifest`);
    cur = cur[k] as Record<string, unknown>;
  }
  const key = keys.at(-1)!;
  if (!(key in cur)) throw new Error(`recipe: ${path} does not exist in the manifest`);
  return { parent: cur, key };
}

/**
 * Builds the case in `dir` (created): graphs and folders of the shipped bundle are linked, not
 * copied, and every file a step changes is unlinked first, so the original is never written.
 */
export function makeBadBundle(c: BadBundle, dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(TRAINED_BUNDLE)) if (f !== 'manifest.json') symlinkSync(join(TRAINED_BUNDLE, f), join(dir, f));
  const manifest = JSON.parse(readFileSync(join(TRAINED_BUNDLE, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const fresh = (p: string): string => {
    try {
      lstatSync(p);
      unlinkSync(p);
    } catch {
      // not there
    }
    return p;
  };
  let writeManifest = true;
  for (const s of c.steps) {
    if ('set' in s) {
      const { parent, key } = pointer(manifest, s.set);
      parent[key] = s.value;
    } else if ('remove' in s) {
      const { parent, key } = pointer(manifest, s.remove);
      delete parent[key];
    } else if ('delete' in s) {
      if (s.delete === 'manifest.json') writeManifest = false;
      else unlinkSync(join(dir, s.delete));
    } else if ('write' in s) {
      if (s.write === 'manifest.json') writeManifest = false;
      writeFileSync(fresh(join(dir, s.write)), s.randomBytes !== undefined ? prngBytes(s.randomBytes, s.seed ?? 1) : (s.text ?? ''));
    } else if ('truncate' in s) {
      const bytes = readFileSync(join(TRAINED_BUNDLE, s.truncate));
      writeFileSync(fresh(join(dir, s.truncate)), bytes.subarray(0, Math.floor(bytes.length * s.fraction)));
    } else if ('copy' in s) {
      writeFileSync(fresh(join(dir, s.to)), readFileSync(join(TRAINED_BUNDLE, s.copy)));
    } else if ('symlink' in s) {
      if (s.symlink === 'manifest.json') writeManifest = false;
      symlinkSync(s.target, fresh(join(dir, s.symlink)));
    }
  }
  if (writeManifest) writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return dir;
}
