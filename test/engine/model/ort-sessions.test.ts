import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCinesegError } from '../../../engine/src/errors.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions, ort } from '../../../engine/src/model/ort-sessions.js';
import { Preprocessor } from '../../../engine/src/model/preprocessor.js';
import { testBundleDir } from './test-bundle.js';

const bundle = loadBundle(testBundleDir());
let sessions: ModelSessions;
beforeAll(async () => {
  sessions = await ModelSessions.create(bundle, { ep: 'cpu' });
});
afterAll(async () => {
  await sessions?.destroy();
});

describe('execution provider choice', () => {
  it('runs on the CPU when asked, with no fallback reason', () => {
    expect(sessions.ep).toEqual({ ep: 'cpu', requested: 'cpu', reason: '' });
  });

  // What this install can run, read from onnxruntime-node's own files rather than from the code
  // under test: the CUDA and TensorRT providers are separate libraries that .npmrc's
  // ONNXRUNTIME_NODE_INSTALL=skip (scripts/setup.sh) leaves out.
  const providerLib = (ep: string): boolean => {
    const bin = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
    return readdirSync(bin).some((napi) => existsSync(join(bin, napi, process.platform, process.arch, `libonnxruntime_providers_${ep}.so`)));
  };

  it('falls back to the CPU with a logged reason when the CUDA provider is not installed', async () => {
    const lines: string[] = [];
    const s = await ModelSessions.create(bundle, { ep: 'cuda', log: (l) => lines.push(l) });
    try {
      const expected = providerLib('cuda') ? 'cuda' : 'cpu';
      expect(s.ep.ep).toBe(expected);
      if (expected === 'cpu') {
        expect(s.ep.reason).toMatch(/cuda is not in this onnxruntime-node install/);
        expect(lines.join('\n')).toMatch(/execution provider: cpu \(fallback from cuda: /);
      }
    } finally {
      await s.destroy();
    }
  });

  it('refuses to fall back in strict mode (E_EP_UNAVAILABLE) and names unknown providers (E_USAGE)', async () => {
    expect(providerLib('tensorrt'), 'this test expects an install without TensorRT').toBe(false);
    const err = await ModelSessions.create(bundle, { ep: 'tensorrt', strictEp: true }).catch((e: unknown) => e);
    expect(isCinesegError(err, 'E_EP_UNAVAILABLE')).toBe(true);
    const bad = await ModelSessions.create(bundle, { ep: 'npu' as never }).catch((e: unknown) => e);
    expect(isCinesegError(bad, 'E_USAGE')).toBe(true);
    expect((bad as Error).message).toMatch(/auto, tensorrt, cuda, webgpu, cpu/);
  });

  it('turns a graph failure into E_MODEL_RUN naming the graph', async () => {
    const err = await sessions.run('maskDecoder', {}).catch((e: unknown) => e);
    expect(isCinesegError(err, 'E_MODEL_RUN')).toBe(true);
    expect((err as Error).message).toMatch(/^maskDecoder/);
  });

  it('destroy() releases the sessions and later runs fail with E_TRACKER_DESTROYED', async () => {
    const s = await ModelSessions.create(bundle, { ep: 'cpu' });
    await s.destroy();
    await s.destroy();
    const err = await s.run('imageEncoder', {}).catch((e: unknown) => e);
    expect(isCinesegError(err, 'E_TRACKER_DESTROYED')).toBe(true);
  });
});

describe('preprocess', () => {
  it('normalises rgb24 HWC into CHW with the bundle mean/std', () => {
    const S = 4;
    const p = new Preprocessor(S, [0.5, 0.25, 0], [0.5, 0.25, 1]);
    const rgb = new Uint8Array(S * S * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 256;
    const out = p.run(rgb);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x;
        expect(out[i]).toBeCloseTo((rgb[3 * i]! / 255 - 0.5) / 0.5, 6);
        expect(out[S * S + i]).toBeCloseTo((rgb[3 * i + 1]! / 255 - 0.25) / 0.25, 6);
        expect(out[2 * S * S + i]).toBeCloseTo(rgb[3 * i + 2]! / 255, 6);
      }
    }
    expect(() => p.run(new Uint8Array(5))).toThrow(/expects 4x4/);
  });
});

// The model engineer's PyTorch vectors (models/export): ONNX through our preprocessing must agree.
const selftestPath = join(bundle.dir, 'selftest', 'selftest.json');
describe.runIf(existsSync(selftestPath))('ONNX numerics vs PyTorch selftest vectors', () => {
  interface Io {
    name: string;
    file: string;
    storage: string;
    dtype: string;
    shape: number[];
  }
  const st = existsSync(selftestPath)
    ? (JSON.parse(readFileSync(selftestPath, 'utf8')) as { tolerance: { atol: number; rtol: number }; cases: { graph: string; inputs: Io[]; outputs: Io[] }[] })
    : { tolerance: { atol: 0, rtol: 0 }, cases: [] };
  const read = (io: Io): ort.Tensor => {
    const buf = readFileSync(join(bundle.dir, 'selftest', io.file));
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    if (io.storage === 'u8-image') {
      const pre = new Preprocessor(bundle.imageSize, bundle.pixelMean, bundle.pixelStd);
      return new ort.Tensor('float32', pre.run(bytes).slice(), io.shape);
    }
    if (io.storage === 'u8') return new ort.Tensor('float32', Float32Array.from(bytes), io.shape);
    if (io.storage === 'int64') return new ort.Tensor('int64', new BigInt64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), io.shape);
    return new ort.Tensor('float32', new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), io.shape);
  };
  for (const c of st.cases) {
    it(`${c.graph} matches within atol ${st.tolerance.atol} / rtol ${st.tolerance.rtol}`, async () => {
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of c.inputs) feeds[i.name] = read(i);
      const res = await sessions.run(c.graph as never, feeds);
      for (const o of c.outputs) {
        const want = read(o).data as Float32Array;
        const got = res[o.name]!.data as Float32Array;
        expect(got.length).toBe(want.length);
        let worst = 0;
        for (let k = 0; k < want.length; k++) {
          const excess = Math.abs(got[k]! - want[k]!) - (st.tolerance.atol + st.tolerance.rtol * Math.abs(want[k]!));
          worst = Math.max(worst, excess);
        }
        expect(worst, `${c.graph}.${o.name}`).toBeLessThanOrEqual(0);
      }
    });
  }
});
