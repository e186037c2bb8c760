import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCinesegError, type ErrorCode } from '../../../engine/src/errors.js';
import { contractFor, defaultBundleDir, loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { testBundleDir, TRAINED_BUNDLE } from './test-bundle.js';

const src = testBundleDir();
const tmp = mkdtempSync(join(tmpdir(), 'cineseg-bundle-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A copy of the bundle, changed by `edit` (manifest object and folder). */
function broken(edit: (manifest: Record<string, any>, dir: string) => void, raw?: string): string {
  const dir = join(tmp, `b${n++}`);
  cpSync(src, dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  edit(m, dir);
  writeFileSync(join(dir, 'manifest.json'), raw ?? JSON.stringify(m));
  return dir;
}

function codeOf(fn: () => unknown): ErrorCode | 'none' {
  try {
    fn();
    return 'none';
  } catch (e) {
    if (isCinesegError(e)) return e.code;
    throw e;
  }
}

describe('loadBundle', () => {
  it('reads the test bundle and checks it against the contract', () => {
    const b = loadBundle(src);
    expect(b.imageSize % 16).toBe(0);
    expect(b.featureSize).toBe(b.imageSize / 16);
    expect(b.lowResMaskSize).toBe(4 * b.featureSize);
    expect(b.constants.noMemEmbed.length).toBe(b.hiddenDim);
    expect(b.constants.maskDownsample.weight.length).toBe(16);
    expect(b.memory.numMaskmem).toBeGreaterThan(0);
    expect(b.graphs.maskDecoder.path.endsWith('.onnx')).toBe(true);
  });

  it('finds the shipped bundle relative to the package, not the working directory', () => {
    const saved = process.env.CINESEG_MODEL;
    delete process.env.CINESEG_MODEL;
    try {
      expect(defaultBundleDir()).toBe(TRAINED_BUNDLE);
    } finally {
      if (saved !== undefined) process.env.CINESEG_MODEL = saved;
    }
  });

  const cases: [string, ErrorCode, () => string][] = [
    ['a missing folder', 'E_BUNDLE_NOT_FOUND', () => join(tmp, 'nope')],
    [
      'a folder without manifest',
      'E_BUNDLE_NOT_FOUND',
      () => {
        const d = broken(() => undefined);
        unlinkSync(join(d, 'manifest.json'));
        return d;
      },
    ],
    ['bad JSON', 'E_BUNDLE_MANIFEST', () => broken(() => undefined, '{"format": "cineseg-bundle", ')],
    ['an unknown formatVersion', 'E_BUNDLE_VERSION', () => broken((m) => (m.formatVersion = 2))],
    ['a wrong format tag', 'E_BUNDLE_MANIFEST', () => broken((m) => (m.format = 'onnx'))],
    ['a missing graph file', 'E_BUNDLE_GRAPH_MISSING', () => broken((m, d) => unlinkSync(join(d, m.graphs.memoryEncoder.file)))],
    ['a wrong input name', 'E_BUNDLE_MANIFEST', () => broken((m) => (m.graphs.maskDecoder.inputs[0].name = 'image_embeddings'))],
    ['an image size that is not a multiple of 16', 'E_BUNDLE_MANIFEST', () => broken((m) => (m.imageSize = 250))],
    [
      'an image size that disagrees with the graphs',
      'E_BUNDLE_MANIFEST',
      () =>
        broken((m) => {
          m.imageSize *= 2;
          m.featureSize *= 2;
          m.lowResMaskSize *= 2;
        }),
    ],
    ['a fixed batch axis', 'E_BUNDLE_MANIFEST', () => broken((m) => (m.graphs.memoryAttention.inputs[1].shape[0] = 1))],
    ['a short constant', 'E_BUNDLE_MANIFEST', () => broken((m) => m.constants.noMemEmbed.pop())],
    ['missing memory settings', 'E_BUNDLE_MANIFEST', () => broken((m) => delete m.memory.numMaskmem)],
  ];
  for (const [what, code, make] of cases) {
    it(`rejects ${what} with ${code}`, () => {
      expect(codeOf(() => loadBundle(make()))).toBe(code);
    });
  }
});

describe('graph checks when sessions start (before any frame)', () => {
  it('rejects a graph file swapped for another graph with E_BUNDLE_GRAPH_MISMATCH', async () => {
    const dir = broken((m, d) => cpSync(join(d, m.graphs.memoryEncoder.file), join(d, m.graphs.maskDecoder.file)));
    const err = await ModelSessions.create(loadBundle(dir), { ep: 'cpu' }).catch((e: unknown) => e);
    expect(isCinesegError(err, 'E_BUNDLE_GRAPH_MISMATCH')).toBe(true);
    expect(String((err as Error).message)).toMatch(/mask_decoder|inputs/);
  });

  it('rejects a file that is not ONNX with E_BUNDLE_GRAPH_MISMATCH', async () => {
    const dir = broken((m, d) => writeFileSync(join(d, m.graphs.imageEncoder.file), 'not a model'));
    const err = await ModelSessions.create(loadBundle(dir), { ep: 'cpu' }).catch((e: unknown) => e);
    expect(isCinesegError(err, 'E_BUNDLE_GRAPH_MISMATCH')).toBe(true);
  });

  it('the contract table has the BUNDLE.md shapes', () => {
    const c = contractFor('maskDecoder', { imageSize: 1024, hiddenDim: 256, memDim: 64, featureSize: 64 });
    expect(c.inputs.find((i) => i.name === 'high_res_feat0')!.shape).toEqual([1, 32, 256, 256]);
    expect(c.outputs.find((o) => o.name === 'low_res_masks')!.shape).toEqual(['B', 4, 256, 256]);
  });
});
