/**
 * `npm run bench -- --quick` for real (the same runBench that engine/dist/bench/main.js prints):
 * every key the project reports exists with the right type, the soak left nothing behind, the
 * machine is described, and nothing but the one JSON object would reach stdout. No speed target
 * is checked here: figures belong to the bench's output, not to a pass/fail test.
 */
import { describe, expect, it, vi } from 'vitest';
import { runBench, SOAK_QUICK } from '../../../engine/src/bench/main.js';

const RATIOS = ['decodeRatio', 'engineOverheadRatio', 'multiObject8to1Ratio', 'rleEncodeVsNaiveRatio', 'rssGrowthRatio', 'liveLatencyP50Ms', 'liveLatencyP99Ms', 'fps'] as const;

describe('bench --quick', () => {
  it('runs every part and returns one JSON-able object with all keys', async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    let r: Awaited<ReturnType<typeof runBench>>;
    try {
      r = await runBench({ quick: true });
    } finally {
      spy.mockRestore();
    }
    // main() writes the object itself; nothing else may (stdout must parse as one JSON value).
    expect(writes).toEqual([]);
    const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown> & typeof r;
    expect(json.quick).toBe(true);
    for (const k of RATIOS) {
      expect(typeof json[k], k).toBe('number');
      expect(json[k] as number, k).toBeGreaterThan(0);
    }
    expect(json.liveLatencyP99Ms).toBeGreaterThanOrEqual(json.liveLatencyP50Ms);
    expect(json.soakFrames).toBeGreaterThanOrEqual(SOAK_QUICK.frames);
    expect(Number.isInteger(json.soakFdDelta)).toBe(true);
    expect(json.soakFfmpegLeft).toBe(0);
    expect(json.soak.ffmpegRunning).toBe(2);
    expect(json.soak.rssSamples.length).toBeGreaterThanOrEqual(2);

    const m = json.machine;
    expect(m.cpu.length).toBeGreaterThan(0);
    expect(Number.isInteger(m.cores) && m.cores >= 1).toBe(true);
    expect(m.memoryGiB).toBeGreaterThan(0);
    expect(m.os).toMatch(/^linux /);
    expect(m.node).toBe(process.version);
    expect(m.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    expect(['cpu', 'cuda', 'tensorrt', 'webgpu']).toContain(m.ep);
    expect(m.gpu === null || (Array.isArray(m.gpu) && m.gpu.every((g) => typeof g === 'string'))).toBe(true);
    expect(typeof m.loadAverage.start).toBe('number');
    expect(typeof m.loadAverage.end).toBe('number');
    for (const part of ['soak', 'decode', 'track', 'mask', 'live', 'annotation', 'adaptation', 'eventLoop', 'recordedMemory', 'restore', 'cpuSpeed', 'cluster'] as const)
      expect(json.partSeconds[part]).toBeGreaterThan(0);
    expect(json.wallSeconds).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(json.date))).toBe(false);

    // Adaptation keys (issue: site shift, finetune, zero-click, clicks to finish).
    for (const k of ['siteShiftJfBefore', 'clicksToFinishBefore', 'clicksToFinishAfter', 'finetuneSeconds'] as const) {
      expect(typeof json[k], k).toBe('number');
      expect(json[k] as number, k).toBeGreaterThan(0);
    }
    expect(json.siteShiftJfBefore).toBeLessThanOrEqual(1);
    expect(Object.keys(json.siteShiftJfAfter).length).toBeGreaterThan(0);
    for (const v of [...Object.values(json.siteShiftJfAfter), ...Object.values(json.zeroClickJf.base), ...Object.values(json.zeroClickJf.adapted)]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(json.adaptation.testClips.every((c) => /-e-/.test(c))).toBe(true);
    expect(Object.keys(json.goals).sort()).toEqual([
      'clicksToFinishReduction',
      'engineVsTorchCpuSpeedup',
      'eventLoopP99MsDuringPropagation',
      'finetuneSeconds',
      'int8MaskIoU',
      'liveLatencyP99Ms',
      'msPerFrame512',
      'recordedSessionRssRatio',
      'restoreLostMasks',
      'siteShiftJfAfter3',
      'workerKillDuplicateMasks',
      'workerKillLostMasks',
      'zeroClickJf',
    ]);
    // Cluster keys (issue 18): inserts into PostgreSQL, workers, and the kill of one.
    expect(json.postgresMaskInsertsPerSecond).toBeGreaterThan(0);
    expect(Object.keys(json.workerClipsPerMinute).sort()).toEqual(['1', '2']);
    for (const v of Object.values(json.workerClipsPerMinute)) expect(v).toBeGreaterThan(0);
    expect(Number.isInteger(json.workerKillLostMasks) && Number.isInteger(json.workerKillDuplicateMasks)).toBe(true);
    expect(json.cluster.workers.workerKillAcked as number).toBeGreaterThan(0);
    // Server keys (issue: inference off the event loop, bounded recorded sessions, restore).
    for (const k of ['eventLoopP99MsDuringPropagation', 'recordedSessionRssRatio', 'restoreSeconds'] as const) {
      expect(typeof json[k], k).toBe('number');
      expect(json[k] as number, k).toBeGreaterThan(0);
    }
    expect(Number.isInteger(json.restoreLostMasks)).toBe(true);
    expect(json.restore.ackedMasks).toBeGreaterThan(0);
    // The side-by-side figure exists: the inline pass ran in the same bench.
    expect(json.eventLoop.eventLoopP99MsInline).toBeGreaterThan(0);
    for (const g of Object.values(json.goals)) {
      expect(typeof g.value).toBe('number');
      expect(typeof g.goal).toBe('string');
      expect(typeof g.met).toBe('boolean');
    }
  }, 900_000);
});
