/**
 * What onnxruntime-node 1.30 can do with tensors left on the GPU (WebGPU provider, on whatever
 * Vulkan adapter the test run has: SwiftShader without a GPU). Found while checking the GPU path
 * and kept as a test so an upgrade that changes it is noticed:
 *   - outputs kept on the device (`preferredOutputLocation: 'gpu-buffer'`) can be fed to another
 *     session as they are, and give the same result as the copy through the CPU;
 *   - `getData()` on such an output aborts the whole process ("terminate called after throwing an
 *     instance of 'char const*'": the binding's native download throws a C string that no N-API
 *     handler catches). So a device-resident tensor must never be read back: the engine may chain
 *     graphs on the device but must take what it reads (masks, scores, pointers) as CPU outputs.
 * Each case runs in a child process, because the second one kills its process.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testBundleDir } from './test-bundle.js';

const CHILD = join(import.meta.dirname, 'webgpu-chain-child.mjs');
const run = (mode: string) => spawnSync(process.execPath, [CHILD, testBundleDir(), mode], { encoding: 'utf8', timeout: 300_000 });

describe('WebGPU tensors kept on the device (onnxruntime-node 1.30)', () => {
  it('chain from one session to the next and give the CPU-copy result', () => {
    const viaCpu = run('cpu');
    const onDevice = run('chain');
    expect(viaCpu.status, viaCpu.stderr).toBe(0);
    expect(onDevice.status, onDevice.stderr).toBe(0);
    const a = JSON.parse(viaCpu.stdout) as { locations: Record<string, string>; sums: Record<string, number> };
    const b = JSON.parse(onDevice.stdout) as typeof a;
    expect(Object.values(a.locations)).toEqual(['cpu', 'cpu', 'cpu']);
    expect(Object.values(b.locations)).toEqual(['gpu-buffer', 'gpu-buffer', 'gpu-buffer']);
    for (const k of Object.keys(a.sums)) expect(b.sums[k]).toBeCloseTo(a.sums[k]!, 3);
  }, 600_000);

  it('abort the process when read back with getData()', () => {
    const r = run('getdata');
    expect(r.signal).toBe('SIGABRT');
    expect(r.stderr).toMatch(/terminate called after throwing an instance of 'char const\*'/);
  }, 600_000);
});
