/**
 * The Python exporter (models/export/export_bundle.py) end to end: export a random-weight
 * tiny bundle with the real /usr/bin/python3 + torch, load it with the engine's bundle loader,
 * then replay the exporter's PyTorch selftest vectors through onnxruntime-node. Proves that the
 * ONNX graphs compute what models/sam2 computes, including the dynamic B / Nm / Np / N axes, and
 * that the fp16 variant stays close to fp32.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../engine/src/model/bundle.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = '/usr/bin/python3';

interface Entry {
  name: string;
  file: string;
  storage: 'float32' | 'int64' | 'u8' | 'u8-image';
  dtype: string;
  shape: number[];
}
interface Case {
  graph: string;
  inputs: Entry[];
  outputs: Entry[];
}
interface Selftest {
  tolerance: { atol: number; rtol: number };
  cases: Case[];
}
interface Manifest {
  pixelMean: number[];
  pixelStd: number[];
  hiddenDim: number;
  memDim: number;
  featureSize: number;
  imageSize: number;
  graphs: Record<string, { file: string }>;
}

let work = '';
let fp32Dir = '';
let fp16Dir = '';

function exportBundle(out: string, extra: string[]): void {
  execFileSync(PYTHON, ['-m', 'models.export.export_bundle', '--config', 'tiny-synth', '--random-weights', '--seed', '3', '--out', out, ...extra], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Reads one selftest tensor of the bundle in `dataDir` (see SelftestWriter in the exporter). */
function readEntry(dataDir: string, man: Manifest, e: Entry): Float32Array | BigInt64Array {
  const buf = readFileSync(join(dataDir, 'selftest', e.file));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
  if (e.storage === 'float32') return new Float32Array(ab);
  if (e.storage === 'int64') return new BigInt64Array(ab);
  if (e.storage === 'u8') return Float32Array.from(buf);
  // u8-image: HxWx3 bytes -> normalised [1, 3, S, S], exactly as a frame is preprocessed.
  const [, , H, W] = e.shape as [number, number, number, number];
  const out = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < H * W; i++) out[c * H * W + i] = (buf[i * 3 + c]! / 255 - man.pixelMean[c]!) / man.pixelStd[c]!;
  }
  return out;
}

/** float32 -> IEEE half bits (round to nearest even), for feeding fp16 graphs. */
function toHalf(src: Float32Array): Uint16Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    let mant = x & 0x7fffff;
    if (exp >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (exp <= 0) {
      if (exp < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - exp;
      let half = mant >> shift;
      if ((mant >> (shift - 1)) & 1 && (mant & ((1 << (shift - 1)) - 1) || half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (exp << 10) | (mant >> 13);
    if (mant & 0x1000 && mant & 0x2fff) half++;
    out[i] = sign | half;
  }
  return out;
}

function fromHalf(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs one selftest case: the graph from `graphDir`, the input tensors from `dataDir`. */
async function runCase(graphDir: string, dataDir: string, man: Manifest, c: Case, half: boolean): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(join(graphDir, man.graphs[c.graph]!.file), { intraOpNumThreads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const e of c.inputs) {
      const data = readEntry(dataDir, man, e);
      feeds[e.name] = data instanceof BigInt64Array ? new ort.Tensor('int64', data, e.shape) : half ? new ort.Tensor('float16', toHalf(data), e.shape) : new ort.Tensor('float32', data, e.shape);
    }
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cineseg-export-'));
  fp32Dir = join(work, 'fp32');
  fp16Dir = join(work, 'fp16');
  exportBundle(fp32Dir, []);
  exportBundle(fp16Dir, ['--fp16', '--no-selftest']);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('python exporter -> onnxruntime-node', () => {
  it('writes a manifest the engine accepts', () => {
    const b = loadBundle(fp32Dir);
    expect(b.config).toBe('tiny-synth');
    expect(b.imageSize).toBe(256);
    expect(b.constants.noObjPtr.length).toBe(b.hiddenDim);
  });

  it('ONNX graphs reproduce the PyTorch selftest vectors (fp32)', async () => {
    const man = JSON.parse(readFileSync(join(fp32Dir, 'manifest.json'), 'utf8')) as Manifest;
    const st = JSON.parse(readFileSync(join(fp32Dir, 'selftest', 'selftest.json'), 'utf8')) as Selftest;
    expect(st.cases.map((c) => c.graph).sort()).toEqual(['imageEncoder', 'maskDecoder', 'memoryAttention', 'memoryEncoder']);
    for (const c of st.cases) {
      const out = await runCase(fp32Dir, fp32Dir, man, c, false); // shapes: see selftest.json
      for (const e of c.outputs) {
        const want = readEntry(fp32Dir, man, e) as Float32Array;
        const got = out[e.name]!;
        expect(got.dims, `${c.graph}.${e.name} dims`).toEqual(e.shape);
        const err = maxDiff(got.data as Float32Array, want);
        expect(err, `${c.graph}.${e.name}`).toBeLessThanOrEqual(st.tolerance.atol + st.tolerance.rtol * maxAbs(want));
      }
    }
  });

  it('fp16 bundle (float16 weights and I/O) stays close to fp32', async () => {
    const man32 = JSON.parse(readFileSync(join(fp32Dir, 'manifest.json'), 'utf8')) as Manifest;
    const man16 = JSON.parse(readFileSync(join(fp16Dir, 'manifest.json'), 'utf8')) as Manifest & { precision: string };
    expect(man16.precision).toBe('fp16');
    const st = JSON.parse(readFileSync(join(fp32Dir, 'selftest', 'selftest.json'), 'utf8')) as Selftest;
    for (const c of st.cases) {
      // Same inputs as fp32 (the fp16 export used the same seed, so the same weights before rounding).
      const out = await runCase(fp16Dir, fp32Dir, man16, c, true);
      for (const e of c.outputs) {
        const want = readEntry(fp32Dir, man32, e) as Float32Array;
        const got = out[e.name]!;
        expect(got.type).toBe('float16');
        const err = maxDiff(fromHalf(got.data as Uint16Array), want);
        // Weights rounded to 11 significant bits: a few per mille of the output range.
        expect(err, `${c.graph}.${e.name} fp16`).toBeLessThanOrEqual(0.02 * Math.max(1, maxAbs(want)));
      }
    }
  });

  it('memory attention and decoder accept the dynamic axes B, Nm, Np, N', async () => {
    const man = JSON.parse(readFileSync(join(fp32Dir, 'manifest.json'), 'utf8')) as Manifest;
    const { hiddenDim: C, memDim: Cm, featureSize: h } = man;
    const rnd = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
    const ma = await ort.InferenceSession.create(join(fp32Dir, man.graphs.memoryAttention!.file));
    for (const [B, Nm, Np] of [
      [1, 1, 1],
      [3, 7, 16],
    ] as const) {
      const out = await ma.run({
        vision_feat: new ort.Tensor('float32', rnd(C * h * h), [1, C, h, h]),
        memory: new ort.Tensor('float32', rnd(B * Nm * Cm * h * h), [B, Nm, Cm, h, h]),
        memory_tpos: new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: Nm }, (_, i) => BigInt(6 - i)),
          [Nm],
        ),
        obj_ptrs: new ort.Tensor('float32', rnd(B * Np * C), [B, Np, C]),
        obj_ptr_tpos: new ort.Tensor(
          'float32',
          Float32Array.from({ length: Np }, (_, i) => i / 15),
          [Np],
        ),
      }); // conditioned_feat [B, C, h, w]
      expect(out.conditioned_feat!.dims).toEqual([B, C, h, h]);
      expect(Array.from(out.conditioned_feat!.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
    await ma.release();
    const md = await ort.InferenceSession.create(join(fp32Dir, man.graphs.maskDecoder!.file));
    for (const [B, N] of [
      [1, 1],
      [2, 5],
    ] as const) {
      const out = await md.run({
        image_embed: new ort.Tensor('float32', rnd(B * C * h * h), [B, C, h, h]),
        high_res_feat0: new ort.Tensor('float32', rnd((C / 8) * 16 * h * h), [1, C / 8, 4 * h, 4 * h]),
        high_res_feat1: new ort.Tensor('float32', rnd((C / 4) * 4 * h * h), [1, C / 4, 2 * h, 2 * h]),
        point_coords: new ort.Tensor(
          'float32',
          rnd(B * N * 2).map((v) => (v + 0.5) * 256),
          [B, N, 2],
        ),
        point_labels: new ort.Tensor(
          'float32',
          Float32Array.from({ length: B * N }, (_, i) => (i % N === 0 ? 1 : 0)),
          [B, N],
        ),
        mask_input: new ort.Tensor('float32', new Float32Array(B * 16 * h * h), [B, 1, 4 * h, 4 * h]),
        has_mask_input: new ort.Tensor('float32', new Float32Array(B), [B]),
      }); // low_res_masks [B,4,4h,4w], iou_scores [B,4], obj_ptrs [B,4,C], object_score_logits [B,1]
      expect(out.low_res_masks!.dims).toEqual([B, 4, 4 * h, 4 * h]);
      expect(out.iou_scores!.dims).toEqual([B, 4]);
      expect(out.obj_ptrs!.dims).toEqual([B, 4, C]);
      expect(out.object_score_logits!.dims).toEqual([B, 1]);
    }
    await md.release();
  });
});
