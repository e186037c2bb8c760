/**
 * The CPU speed bench's shape, on a tiny run (tiny-synth random weights at 256 px, 2 frames, no
 * settings grid): both sides really ran (PyTorch's masks agree with the engine's, so the ratio
 * compares the same work), every figure is a positive number, and the int8 bundles were made and
 * tracked. The real-size figures (512 / 1024 px) are the bench's output, not a test's.
 */
import { describe, expect, it } from 'vitest';
import { benchCpuSpeed } from '../../../engine/src/bench/cpu-speed-bench.js';

describe('cpu speed bench (tiny run)', () => {
  it('measures engine and PyTorch side by side, fp32 and int8, with per-graph times', async () => {
    const r = JSON.parse(JSON.stringify(await benchCpuSpeed({ quick: true, config: 'tiny-synth', sizes: [256], frames: 2 }))) as Awaited<ReturnType<typeof benchCpuSpeed>>;
    for (const k of ['engineVsTorchCpuSpeedup', 'engineVsTorchCpuTimeSpeedup', 'engineFps', 'int8SizeRatio'] as const) {
      expect(typeof r[k], k).toBe('number');
      expect(r[k], k).toBeGreaterThan(0);
    }
    // Not a 512 px run: those keys say so instead of carrying another size's figure.
    expect(r.msPerFrame512).toBeNull();
    expect(r.int8SizeRatio).toBeLessThan(1);
    expect(r.torch.fps).toBeGreaterThan(0);
    expect(r.torch.cpuMsPerFrame).toBeGreaterThan(0);
    expect(r.torch.threads).toBe(r.runs[0]!.threads);
    // Same weights, frames and click on both sides: the engine's masks are PyTorch's.
    expect(r.engineTorchMaskIoU).toBeGreaterThan(0.99);
    expect(r.runs.map((x) => [x.imageSize, x.precision])).toEqual([
      [256, 'fp32'],
      [256, 'int8'],
    ]);
    for (const run of r.runs) {
      expect(run.frames).toBe(2);
      expect(run.msPerFrame).toBeGreaterThan(0);
      expect(Object.keys(run.msPerGraph).sort()).toEqual(['imageEncoder', 'maskDecoder', 'memoryAttention', 'memoryEncoder']);
      for (const v of Object.values(run.msPerGraph)) expect(v).toBeGreaterThan(0);
    }
    for (const v of [r.int8MaskIoU, r.int8MaskIoURandom, r.int8MaskIoUTrainedTiny]) {
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThanOrEqual(1);
    }
  }, 120_000);
});
