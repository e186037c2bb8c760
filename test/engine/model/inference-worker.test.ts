/**
 * ModelSessions in worker mode (model/worker-sessions.ts + inference-worker.ts) against the same
 * bundle inline, with real onnxruntime sessions: the outputs of every graph are the same bits;
 * the event loop keeps ticking while the worker runs graphs (inline it does not); the run queue
 * lets a live run overtake queued propagation; errors keep their codes; destroy() ends the thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCinesegError } from '../../../engine/src/errors.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions, ort } from '../../../engine/src/model/ort-sessions.js';
import { testBundleDir } from './test-bundle.js';

const bundle = loadBundle(testBundleDir());
const S = bundle.imageSize;
const C = bundle.hiddenDim;
const Cm = bundle.memDim;
const h = bundle.featureSize;
const L = bundle.lowResMaskSize;

let inline: ModelSessions;
let worker: ModelSessions;
beforeAll(async () => {
  inline = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1, worker: false });
  worker = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1, worker: true });
});
afterAll(async () => {
  await inline?.destroy();
  await worker?.destroy();
});

/** A deterministic pseudo-random fill (the same inputs for both modes). */
function fill(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = ((x >>> 0) / 0xffffffff - 0.5) * scale;
  }
  return a;
}

function image(seed: number): ort.Tensor {
  return new ort.Tensor('float32', fill(3 * S * S, seed, 4), [1, 3, S, S]);
}

function sameBits(a: ort.InferenceSession.OnnxValueMapType, b: ort.InferenceSession.OnnxValueMapType): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    const x = a[k]!;
    const y = b[k]!;
    expect(y.type, k).toBe(x.type);
    expect([...y.dims], k).toEqual([...x.dims]);
    const bx = new Uint8Array((x.data as Float32Array).buffer, (x.data as Float32Array).byteOffset, (x.data as Float32Array).byteLength);
    const by = new Uint8Array((y.data as Float32Array).buffer, (y.data as Float32Array).byteOffset, (y.data as Float32Array).byteLength);
    expect(by.length, k).toBe(bx.length);
    expect(Buffer.compare(Buffer.from(bx), Buffer.from(by)), `${k} differs`).toBe(0);
  }
}

describe('worker mode', () => {
  it('starts a thread and reports the same provider choice', () => {
    expect(worker.inWorker).toBe(true);
    expect(inline.inWorker).toBe(false);
    expect(worker.workerThreadId).toBeGreaterThan(0);
    expect(worker.ep).toEqual(inline.ep);
  });

  it('gives the same bits as inline for every graph, and leaves the caller its input buffers', async () => {
    const img = image(7);
    const enc = await inline.run('imageEncoder', { image: img });
    const encW = await worker.run('imageEncoder', { image: img });
    sameBits(enc, encW);
    // The caller's buffer is copied, not detached (sam-runner reuses its image buffers).
    expect((img.data as Float32Array).length).toBe(3 * S * S);

    const B = 2;
    const Nm = 3;
    const Np = 2;
    const memFeeds = (vision: ort.Tensor) => ({
      vision_feat: vision,
      memory: new ort.Tensor('float32', fill(B * Nm * Cm * h * h, 11), [B, Nm, Cm, h, h]),
      memory_tpos: new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 0n]), [Nm]),
      obj_ptrs: new ort.Tensor('float32', fill(B * Np * C, 12), [B, Np, C]),
      obj_ptr_tpos: new ort.Tensor('float32', Float32Array.from([0, 3]), [Np]),
    });
    const att = await inline.run('memoryAttention', memFeeds(enc.vision_feat!));
    sameBits(att, await worker.run('memoryAttention', memFeeds(enc.vision_feat!)));

    // A view into a larger buffer, as sam-runner passes imageEmbed.subarray(...).
    const big = new Float32Array(3 * C * h * h);
    big.set(att.conditioned_feat!.data as Float32Array, C * h * h);
    const embed = big.subarray(C * h * h, 3 * C * h * h);
    const decFeeds = () => ({
      image_embed: new ort.Tensor('float32', embed, [B, C, h, h]),
      high_res_feat0: enc.high_res_feat0!,
      high_res_feat1: enc.high_res_feat1!,
      point_coords: new ort.Tensor('float32', Float32Array.from([40, 60, 100, 120, 10, 10, 200, 30]), [B, 2, 2]),
      point_labels: new ort.Tensor('float32', Float32Array.from([1, 0, 1, 1]), [B, 2]),
      mask_input: new ort.Tensor('float32', fill(B * L * L, 13, 8), [B, 1, L, L]),
      has_mask_input: new ort.Tensor('float32', Float32Array.from([0, 1]), [B]),
    });
    const dec = await inline.run('maskDecoder', decFeeds());
    sameBits(dec, await worker.run('maskDecoder', decFeeds()));
    expect(embed.length).toBe(B * C * h * h);

    const mem = () => ({
      vision_feat: enc.vision_feat!,
      mask_for_mem: new ort.Tensor(
        'float32',
        fill(B * S * S, 14, 2).map((v) => (v > 0 ? 1 : 0)),
        [B, 1, S, S],
      ),
      object_score_logits: new ort.Tensor('float32', Float32Array.from([2.5, -1]), [B, 1]),
    });
    sameBits(await inline.run('memoryEncoder', mem()), await worker.run('memoryEncoder', mem()));

    // An image in shared memory (copied on the worker's side; inline, before the run): same bits again.
    const shared = new Float32Array(new SharedArrayBuffer(3 * S * S * 4));
    shared.set(img.data as Float32Array);
    sameBits(enc, await worker.run('imageEncoder', { image: new ort.Tensor('float32', shared, [1, 3, S, S]) }));
    sameBits(enc, await inline.run('imageEncoder', { image: new ort.Tensor('float32', shared, [1, 3, S, S]) }));
    expect(shared[5]).toBe((img.data as Float32Array)[5]);
  });

  it('keeps the event loop ticking while the worker runs graphs (inline it stalls)', async () => {
    const N = 30;
    const ticksDuring = async (s: ModelSessions): Promise<{ ticks: number; ms: number; maxGapMs: number }> => {
      const img = image(3);
      await s.run('imageEncoder', { image: img });
      let ticks = 0;
      let last = performance.now();
      let maxGapMs = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
        ticks++;
      }, 1);
      const t0 = performance.now();
      // Queued all at once, as a propagation of several sessions would.
      await Promise.all(Array.from({ length: N }, () => s.run('imageEncoder', { image: img })));
      const ms = performance.now() - t0;
      clearInterval(timer);
      return { ticks, ms, maxGapMs };
    };
    const a = await ticksDuring(inline);
    const b = await ticksDuring(worker);
    // Inline every graph holds the thread: about one tick per run at most. In the worker the
    // 1 ms timer fires most milliseconds.
    expect(b.ticks).toBeGreaterThan(2 * a.ticks);
    expect(b.ticks).toBeGreaterThan(0.3 * b.ms);
    expect(a.ticks).toBeLessThan(0.3 * a.ms);
  });

  it('lets a live run overtake queued propagation runs', async () => {
    for (const s of [worker, inline]) {
      const done: string[] = [];
      const img = image(5);
      const prop = s.withPriority('propagate');
      const runs = Array.from({ length: 6 }, (_, i) => prop.run('imageEncoder', { image: img }).then(() => done.push(`p${i}`)));
      // The scope form, as a recorded session would use it for its propagation.
      const scoped = ModelSessions.withPriorityScope('propagate', () => s.run('imageEncoder', { image: img }).then(() => done.push('scoped')));
      const live = s
        .withPriority('live')
        .run('imageEncoder', { image: img })
        .then(() => done.push('live'));
      await Promise.all([...runs, scoped, live]);
      // p0 was already running when the live run came; everything else waited for it.
      expect(done, s.inWorker ? 'worker' : 'inline').toEqual(['p0', 'live', 'p1', 'p2', 'p3', 'p4', 'p5', 'scoped']);
      expect(s.queue.started.live).toBeGreaterThan(0);
    }
  });

  it('returns graph failures with the inline code and message (E_MODEL_RUN naming the graph)', async () => {
    const a = await inline.run('maskDecoder', {}).catch((e: unknown) => e);
    const b = await worker.run('maskDecoder', {}).catch((e: unknown) => e);
    expect(isCinesegError(b, 'E_MODEL_RUN')).toBe(true);
    expect((b as Error).message).toBe((a as Error).message);
    expect((b as { details?: { graph?: string } }).details?.graph).toBe('maskDecoder');
    // The worker is still usable after a failed run.
    const ok = await worker.run('imageEncoder', { image: image(1) });
    expect(ok.vision_feat!.dims).toEqual([1, C, h, h]);
  });

  it('refuses unknown providers (E_USAGE) and strict fallbacks (E_EP_UNAVAILABLE) as inline does', async () => {
    const bad = await ModelSessions.create(bundle, { ep: 'npu' as never, worker: true }).catch((e: unknown) => e);
    expect(isCinesegError(bad, 'E_USAGE')).toBe(true);
    const strict = await ModelSessions.create(bundle, { ep: 'tensorrt', strictEp: true, worker: true }).catch((e: unknown) => e);
    if (strict instanceof ModelSessions)
      await strict.destroy(); // a machine with TensorRT
    else expect(isCinesegError(strict, 'E_EP_UNAVAILABLE')).toBe(true);
  });

  it('destroy() ends the thread; runs in flight and later runs reject with E_TRACKER_DESTROYED', async () => {
    const s = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1, worker: true });
    expect(s.workerThreadId).not.toBeNull();
    const img = image(2);
    const inFlight = Array.from({ length: 4 }, () =>
      s.run('imageEncoder', { image: img }).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    await s.destroy();
    await s.destroy(); // twice is fine
    expect(s.workerThreadId).toBeNull();
    const results = await Promise.all(inFlight);
    // The first may have finished before destroy; every other one was refused with the code.
    for (const r of results.slice(1)) expect(isCinesegError(r, 'E_TRACKER_DESTROYED')).toBe(true);
    const later = await s.run('imageEncoder', { image: img }).catch((e: unknown) => e);
    expect(isCinesegError(later, 'E_TRACKER_DESTROYED')).toBe(true);
    expect(s.isDestroyed).toBe(true);
  });

  it('takes CINESEG_ORT_WORKER when the option is not given, and the option over it', async () => {
    const old = process.env.CINESEG_ORT_WORKER;
    try {
      process.env.CINESEG_ORT_WORKER = '1';
      const a = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1 });
      const b = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1, worker: false });
      expect([a.inWorker, b.inWorker]).toEqual([true, false]);
      await Promise.all([a.destroy(), b.destroy()]);
      process.env.CINESEG_ORT_WORKER = '0';
      const c = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1 });
      expect(c.inWorker).toBe(false);
      await c.destroy();
    } finally {
      if (old === undefined) delete process.env.CINESEG_ORT_WORKER;
      else process.env.CINESEG_ORT_WORKER = old;
    }
  });
});
