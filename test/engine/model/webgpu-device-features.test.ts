/**
 * Image features kept on the device between graphs (ModelSessionOptions.deviceFeatures): on
 * `webgpu` the image encoder's high-resolution levels stay in GPU buffers and go straight into
 * the mask decoder. Tracked on the test run's Vulkan adapter (SwiftShader without a GPU), the
 * result must be the CPU provider's, and the bytes that stayed on the device must be exactly the
 * high-resolution levels — every encoder output of them and every decoder input of them — and
 * nothing else: what the CPU run moves through JS memory is what the device run moves, minus those.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngMask } from '../../../engine/src/mask/png-mask.js';
import { loadBundle, type Bundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions, ort } from '../../../engine/src/model/ort-sessions.js';
import { DecodedFrames } from '../../../engine/src/track/decoded-frames.js';
import { VideoTracker, type TrackedFrame } from '../../../engine/src/track/video-tracker.js';
import { ArrayFrames, iou, maxAbsDiff } from '../track/fixtures.js';
import { REPO_ROOT, testBundleDir } from './test-bundle.js';

// The generated ultrasound clip the model was trained for (objects found on every frame), 480 x 360.
const CLIP = join(REPO_ROOT, 'samples', 'generated', 'ultrasound-1');
const W = 480;
const H = 360;

let bundle: Bundle;
let frames: ArrayFrames;
let cpuSessions: ModelSessions | undefined;
let gpu: ModelSessions | undefined;
beforeAll(async () => {
  bundle = loadBundle(testBundleDir());
  const dec = await DecodedFrames.open(join(CLIP, 'clip.mp4'), bundle.imageSize, { maxFrames: 4 });
  const rgb: Uint8Array[] = [];
  for (let i = 0; i < dec.numFrames; i++) rgb.push(await dec.getFrame(i));
  await dec.destroy();
  frames = new ArrayFrames(rgb);
  cpuSessions = await ModelSessions.create(bundle, { ep: 'cpu', threads: 1 });
}, 120_000);
afterAll(async () => {
  await gpu?.destroy();
  await cpuSessions?.destroy();
});

async function track(sessions: ModelSessions) {
  const before = sessions.traffic;
  const t = new VideoTracker(sessions, frames, { width: W, height: H });
  // Two objects (a click, a mask: both prompt paths), so the decoder also runs batched (B = 2)
  // against one [1, ...] set of high-res levels.
  await t.addPoints(0, 1, [{ x: 213, y: 181 }]);
  await t.addMask(0, 2, readPngMask(join(CLIP, 'mask-obj2-f0.png')).mask);
  const tracked: TrackedFrame[] = [];
  for await (const f of t.propagate({ maxFrameNumToTrack: 3 })) tracked.push(f);
  const after = sessions.traffic;
  const stats = { ...t.stats };
  t.destroy();
  const delta = {
    cpuInBytes: after.cpuInBytes - before.cpuInBytes,
    cpuOutBytes: after.cpuOutBytes - before.cpuOutBytes,
    deviceInBytes: after.deviceInBytes - before.deviceInBytes,
    deviceOutBytes: after.deviceOutBytes - before.deviceOutBytes,
  };
  return { frames: tracked, stats, traffic: delta };
}

describe('image features kept on the WebGPU device', () => {
  it('track like the CPU, and only the high-res levels stay off the CPU', async () => {
    const cpu = await track(cpuSessions!);
    gpu = await ModelSessions.create(bundle, { ep: 'webgpu', strictEp: true, threads: 1 });
    expect(gpu.ep.ep).toBe('webgpu');
    expect(gpu.deviceResident).toBe(true);
    const dev = await track(gpu);

    expect(dev.frames.map((f) => f.frame)).toEqual([0, 1, 2, 3]);
    expect(dev.stats).toEqual(cpu.stats);
    const ious: number[] = [];
    for (let i = 0; i < cpu.frames.length; i++) {
      for (let o = 0; o < 2; o++) {
        const a = cpu.frames[i]!.objects[o]!.output.predMasks;
        const b = dev.frames[i]!.objects[o]!.output.predMasks;
        expect(maxAbsDiff(a, b)).toBeLessThan(0.05);
        const ma = Uint8Array.from(a, (v) => (v > 0 ? 1 : 0));
        ious.push(
          iou(
            ma,
            Uint8Array.from(b, (v) => (v > 0 ? 1 : 0)),
          ),
        );
        // Not an empty match: both found the object.
        // Not an empty match: both found the object.
        expect(ma.reduce((s, v) => s + v, 0)).toBeGreaterThan(20);
      }
    }
    for (const v of ious) expect(v).toBeGreaterThanOrEqual(0.98);

    // [1, C/8, 4h, 4w] + [1, C/4, 2h, 2w] float32, from the bundle's own sizes.
    const { hiddenDim: C, featureSize: h } = bundle;
    const highResBytes = ((C / 8) * 16 * h * h + (C / 4) * 4 * h * h) * 4;
    expect(cpu.traffic.deviceInBytes + cpu.traffic.deviceOutBytes).toBe(0);
    expect(dev.traffic.deviceOutBytes).toBe(dev.stats.imageEncoderRuns * highResBytes);
    expect(dev.traffic.deviceInBytes).toBe(dev.stats.decoderRuns * highResBytes);
    expect(cpu.traffic.cpuOutBytes - dev.traffic.cpuOutBytes).toBe(dev.traffic.deviceOutBytes);
    expect(cpu.traffic.cpuInBytes - dev.traffic.cpuInBytes).toBe(dev.traffic.deviceInBytes);
    const saved = dev.traffic.deviceInBytes + dev.traffic.deviceOutBytes;
    const total = cpu.traffic.cpuInBytes + cpu.traffic.cpuOutBytes;
    console.log(
      `webgpu device features: ${(saved / 1e6).toFixed(2)} of ${(total / 1e6).toFixed(2)} MB not copied (${((100 * saved) / total).toFixed(1)} %), ` +
        `${dev.stats.imageEncoderRuns} encoder / ${dev.stats.decoderRuns} decoder runs; mask IoU vs cpu ${Math.min(...ious).toFixed(4)} min`,
    );
  }, 600_000);

  it('can be turned off: everything then comes back to the CPU', async () => {
    // Session creation only (no run): what the option decides is visible without a second track.
    const off = await ModelSessions.create(bundle, { ep: 'webgpu', strictEp: true, threads: 1, deviceFeatures: false });
    try {
      expect(off.deviceResident).toBe(false);
      const S = bundle.imageSize;
      const f = await off.run('imageEncoder', { image: new ort.Tensor('float32', new Float32Array(3 * S * S), [1, 3, S, S]) });
      expect(Object.values(f).map((t) => t.location)).toEqual(['cpu', 'cpu', 'cpu']);
    } finally {
      await off.destroy();
    }
  }, 600_000);
});
