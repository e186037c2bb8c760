/**
 * The GPU code path without a GPU: onnxruntime-node's WebGPU provider on Dawn over a Vulkan
 * adapter. On a machine without one, the test run (scripts/test.mjs) points Vulkan at the software
 * adapter Debian's chromium ships (SwiftShader): slow, but the same provider, shaders and copies a
 * GPU gets. `cineseg track --ep webgpu --strict-ep` must run there with no fallback and give the
 * CPU's masks (IoU ≥ 0.98 per frame), with onnxruntime's own warnings kept out of the terminal
 * unless `--verbose` asks for them; `--strict-ep` on a provider that cannot start fails with
 * E_EP_UNAVAILABLE instead of running on the CPU.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask } from '../../../engine/src/mask/rle.js';
import type { VisJson } from '../../../engine/src/mask/vis-json.js';
import { cineseg, ensureBuilt } from '../cli/track-helpers.js';
import { REPO_ROOT, testBundleDir } from './test-bundle.js';

const CLIP = join(REPO_ROOT, 'samples', 'generated', 'ultrasound-1');
const tmp = mkdtempSync(join(tmpdir(), 'cineseg-webgpu-'));
const ORT_WARNING = /\[W:onnxruntime/;

beforeAll(async () => {
  await ensureBuilt();
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function trackArgs(out: string, extra: string[]): string[] {
  const prompts = JSON.parse(readFileSync(join(CLIP, 'prompts.json'), 'utf8')) as { objects: { frame: number; point: [number, number] }[] };
  const o = prompts.objects[0]!;
  return ['track', join(CLIP, 'clip.mp4'), '--model', testBundleDir(), '--point', `${o.frame}:${o.point[0]},${o.point[1]}`, '--threads', '1', '--out', out, ...extra];
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i]! & b[i]!;
    union += a[i]! | b[i]!;
  }
  return union === 0 ? 1 : inter / union;
}

describe('WebGPU provider (Dawn on Vulkan)', () => {
  it('a Vulkan adapter is configured for the test run (a GPU ICD, or the SwiftShader one)', () => {
    // Not a skip: without one the test below could not show anything, and that must be seen.
    const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
    expect(icd, 'scripts/test.mjs sets VK_ICD_FILENAMES when no GPU ICD is installed').toBeTruthy();
    for (const f of icd!.split(':')) expect(existsSync(f)).toBe(true);
  });

  it('tracks on webgpu with no fallback and gives the CPU masks; onnxruntime stays quiet', async () => {
    const cpuOut = join(tmp, 'cpu.json');
    const gpuOut = join(tmp, 'webgpu.json');
    const cpu = await cineseg(trackArgs(cpuOut, ['--ep', 'cpu', '--max-frames', '3']));
    expect(cpu.code, cpu.stderr).toBe(0);
    const gpu = await cineseg(trackArgs(gpuOut, ['--ep', 'webgpu', '--strict-ep', '--max-frames', '3']));
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(gpu.stdout).toMatch(/ on webgpu; wrote /);
    expect(gpu.stdout).not.toMatch(/asked for/);
    expect(gpu.stderr).not.toMatch(ORT_WARNING);
    const a = JSON.parse(readFileSync(cpuOut, 'utf8')) as VisJson;
    const b = JSON.parse(readFileSync(gpuOut, 'utf8')) as VisJson;
    const segA = a.annotations[0]!.segmentations;
    const segB = b.annotations[0]!.segmentations;
    const tracked = segA.map((s, i) => (s ? i : -1)).filter((i) => i >= 0);
    expect(tracked).toEqual([0, 1, 2, 3]);
    expect(segB.map((s, i) => (s ? i : -1)).filter((i) => i >= 0)).toEqual(tracked);
    const ious = tracked.map((f) => iou(decodeMask(segA[f]!), decodeMask(segB[f]!)));
    for (const v of ious) expect(v).toBeGreaterThanOrEqual(0.98);
    // Both found the object (an empty mask on both sides would match trivially).
    for (const f of tracked) expect(decodeMask(segA[f]!).reduce((s, v) => s + v, 0)).toBeGreaterThan(100);
    // The object scores agree as well (the VIS file rounds them).
    const sa = a.annotations[0]!.scores ?? [];
    const sb = b.annotations[0]!.scores ?? [];
    const diffs = tracked.map((f) => Math.abs(Number(sa[f]) - Number(sb[f])));
    for (const d of diffs) expect(d).toBeLessThan(0.05);
    console.log(`webgpu vs cpu mask IoU per frame: ${ious.map((v) => v.toFixed(4)).join(' ')}; score |diff| ${diffs.map((d) => d.toExponential(1)).join(' ')}`);
  }, 600_000);

  it('--verbose lets onnxruntime warnings through', async () => {
    const r = await cineseg(trackArgs(join(tmp, 'verbose.json'), ['--ep', 'webgpu', '--strict-ep', '--verbose', '--max-frames', '0']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(ORT_WARNING);
  }, 600_000);

  it('--strict-ep fails with E_EP_UNAVAILABLE where a provider cannot start, instead of running on the CPU', async () => {
    const r = await cineseg(trackArgs(join(tmp, 'strict.json'), ['--ep', 'tensorrt', '--strict-ep', '--max-frames', '0']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_EP_UNAVAILABLE: execution provider tensorrt unavailable/m);
    expect(existsSync(join(tmp, 'strict.json'))).toBe(false);
  }, 120_000);
});
