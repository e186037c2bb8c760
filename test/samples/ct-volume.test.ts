/**
 * The synthetic CT volume: a pure function of its seed, a lesion whose label volume is exactly the
 * voxels at lesion density, a seed volume holding only the middle lesion slice, and a DICOM
 * series whose slices hold the NIfTI's values in position order.
 */
import { readFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CT_DIMS, renderCtPhantom, writeCtVolume } from '../../samples/src/ct-volume.js';

let out: string;
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'cineseg-ctsample-'));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

const voxels = (path: string): Buffer => {
  const raw = readFileSync(path);
  return (raw[0] === 0x1f ? gunzipSync(raw) : raw).subarray(352);
};

describe('synthetic CT volume', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = renderCtPhantom(1);
    const b = renderCtPhantom(1);
    const c = renderCtPhantom(2);
    expect(Buffer.from(a.hu.buffer).equals(Buffer.from(b.hu.buffer))).toBe(true);
    expect(Buffer.from(a.hu.buffer).equals(Buffer.from(c.hu.buffer))).toBe(false);
    expect(Buffer.from(a.labels).equals(Buffer.from(c.labels))).toBe(true); // same anatomy, new noise
  });

  it('writes NIfTI (int16 + scl_inter, float32), labels, a one-slice seed, a DICOM series and facts', () => {
    const r = writeCtVolume(out, 1, { skipExisting: false });
    expect(r.skipped).toBe(false);
    const facts = JSON.parse(readFileSync(join(r.dir, 'volume.json'), 'utf8'));
    const [nx, ny, nz] = CT_DIMS;
    const plane = nx * ny;
    const labels = voxels(join(r.dir, 'labels.nii.gz'));
    const seed = voxels(join(r.dir, 'seed.nii.gz'));
    expect(labels.length).toBe(nx * ny * nz);
    const perSlice = Array.from({ length: nz }, (_, k) => labels.subarray(k * plane, (k + 1) * plane).reduce((a, b) => a + b, 0));
    const lesion = perSlice.map((n, k) => (n > 0 ? k : -1)).filter((k) => k >= 0);
    expect([lesion[0], lesion.at(-1)]).toEqual(facts.lesionSlices);
    expect(perSlice.reduce((a, b) => a + b, 0)).toBe(facts.lesionVoxels);
    // The seed is the label volume's middle lesion slice and nothing else.
    const m = facts.middleSlice;
    expect(seed.subarray(m * plane, (m + 1) * plane).equals(labels.subarray(m * plane, (m + 1) * plane))).toBe(true);
    expect(seed.reduce((a, b) => a + b, 0)).toBe(perSlice[m]);
    // int16 stores HU + 1024; float32 stores HU: the lesion (5 HU) is darker than the liver (100 HU).
    const ints = voxels(join(r.dir, 'ct.nii.gz'));
    const floats = voxels(join(r.dir, 'ct-float.nii'));
    let lesionHu = 0;
    let mismatched = 0;
    for (let p = 0; p < nx * ny * nz; p++) {
      const hu = ints.readInt16LE(2 * p) - 1024;
      if (floats.readFloatLE(4 * p) !== hu) mismatched++;
      if (labels[p]) lesionHu += hu;
    }
    expect(mismatched).toBe(0);
    expect(Math.abs(lesionHu / facts.lesionVoxels - 5)).toBeLessThan(3);
    const files = readdirSync(join(r.dir, 'dicom'));
    expect(files).toHaveLength(nz);
    expect(facts.dicom.sopInstanceUids).toHaveLength(nz);
    expect(new Set(facts.dicom.sopInstanceUids).size).toBe(nz);
    expect(writeCtVolume(out, 1, { skipExisting: true }).skipped).toBe(true);
  });
});
