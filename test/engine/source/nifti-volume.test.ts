/**
 * Volumes read by cineseg agree with nibabel (an independent reader) voxel for voxel, a DICOM
 * series is ordered by Image Position (Patient) whatever its file names and Instance Numbers say,
 * and the planes index the grid as the module comment of volume-slices.ts promises.
 */
import { gzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCinesegError } from '../../../engine/src/errors.js';
import { readDicomSeries, readSeriesSlices } from '../../../engine/src/source/dicom-series.js';
import { parseNifti, readNiftiVolume } from '../../../engine/src/source/nifti-volume.js';
import { forEachSliceVoxel, planeView, renderSlice, resolveWindow } from '../../../engine/src/source/volume-slices.js';
import { parseVolumeSpec } from '../../../engine/src/source/volume.js';
import { ctFixture, nibabelRead, type CtFixture } from './volume-fixture.js';

let ct: CtFixture;
let tmp: string;
beforeAll(() => {
  ct = ctFixture();
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-vol-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('NIfTI against nibabel', () => {
  for (const which of ['nii', 'floatNii', 'labels'] as const) {
    it(`${which}: same shape, affine and voxel values`, () => {
      const path = ct[which];
      const mine = readNiftiVolume(path);
      const ref = nibabelRead(path);
      expect(mine.dims).toEqual(ref.shape);
      expect(maxAbsDiff(mine.affine.flat(), ref.affine.flat())).toBeLessThan(1e-5);
      expect(maxAbsDiff(mine.data, ref.data)).toBe(0);
      if (which === 'nii') {
        expect(ref.dtype).toBe('int16');
        // scl_inter -1024 was applied: air is about -1000 HU, not +24.
        expect(Math.min(...mine.data.subarray(0, 500))).toBeLessThan(-950);
        expect(mine.modality).toBe('CT');
      }
    });
  }
});

describe('NIfTI parsing', () => {
  it('reads a big-endian file as its little-endian twin', () => {
    const le = readFileSync(ct.floatNii);
    const be = Buffer.from(le);
    const swap = (o: number, n: number) => be.set(Buffer.from(le.subarray(o, o + n)).reverse(), o);
    swap(0, 4);
    for (let i = 0; i < 8; i++) swap(40 + 2 * i, 2);
    for (const o of [68, 70, 72, 252, 254]) swap(o, 2);
    for (let o = 76; o < 140; o += 4) swap(o, 4);
    for (let o = 256; o < 328; o += 4) swap(o, 4);
    for (let o = 352; o < be.length; o += 4) swap(o, 4);
    const a = readNiftiVolume(ct.floatNii);
    const b = parseNifti('be.nii', be);
    expect(b.dims).toEqual(a.dims);
    expect(b.affine).toEqual(a.affine);
    expect(maxAbsDiff(a.data, b.data)).toBe(0);
  });

  it('refuses a truncated file and damaged gzip with E_DECODE_CORRUPT', () => {
    const cut = join(tmp, 'cut.nii');
    writeFileSync(cut, readFileSync(ct.floatNii).subarray(0, 5000));
    expect(() => readNiftiVolume(cut)).toThrow(expect.objectContaining({ code: 'E_DECODE_CORRUPT' }));
    const gz = join(tmp, 'bad.nii.gz');
    writeFileSync(gz, gzipSync(readFileSync(ct.floatNii)).subarray(0, 3000));
    try {
      readNiftiVolume(gz);
      expect.unreachable();
    } catch (e) {
      expect(isCinesegError(e, 'E_DECODE_CORRUPT')).toBe(true);
    }
  });
});

describe('DICOM series', () => {
  it('orders slices by position, not by file name or Instance Number', () => {
    const slices = readSeriesSlices(ct.dicom);
    expect(slices).toHaveLength(ct.facts.dims[2]!);
    const z = slices.map((s) => s.position[2]);
    expect(z).toEqual([...z].sort((a, b) => a - b));
    // The generator named files and numbered instances in another order: sorting by either would differ.
    const names = slices.map((s) => s.file);
    expect(names).not.toEqual([...names].sort());
    const inst = slices.map((s) => Number(s.ds.InstanceNumber));
    expect(inst).not.toEqual([...inst].sort((a, b) => a - b));
  });

  it('is the same grid and values as the NIfTI of the same scan', () => {
    const series = readDicomSeries(ct.dicom);
    const nii = readNiftiVolume(ct.nii);
    expect(series.dims).toEqual(nii.dims);
    expect(maxAbsDiff(series.affine.flat(), nii.affine.flat())).toBeLessThan(1e-6);
    expect(maxAbsDiff(series.data, nii.data)).toBe(0);
    expect(series.modality).toBe('CT');
    expect(series.dicom!.instances.map((i) => i.sopInstanceUid)).toEqual(ct.facts.dicom.sopInstanceUids);
    expect(series.dicom!.seriesInstanceUid).toBe(ct.facts.dicom.seriesInstanceUid);
  });
});

describe('planes and windows', () => {
  it('maps axial, coronal and sagittal pixels to the voxels the radiological convention names', () => {
    const vol = readNiftiVolume(ct.nii);
    const [nx, ny, nz] = vol.dims;
    const idx = (i: number, j: number, k: number) => i + nx * (j + ny * k);
    // The affine is diag(-0.8, -0.8, 2.5): i runs to patient left, j to posterior, k to superior.
    const cases = [
      { plane: 'axial' as const, size: [nx, ny, nz], at: (c: number, r: number, f: number) => idx(c, r, f) },
      { plane: 'coronal' as const, size: [nx, nz, ny], at: (c: number, r: number, f: number) => idx(c, ny - 1 - f, nz - 1 - r) },
      { plane: 'sagittal' as const, size: [ny, nz, nx], at: (c: number, r: number, f: number) => idx(f, c, nz - 1 - r) },
    ];
    for (const k of cases) {
      const v = planeView(vol, k.plane);
      expect([v.width, v.height, v.depth]).toEqual(k.size);
      for (const f of [0, 7, v.depth - 1]) {
        let bad = 0;
        forEachSliceVoxel(v, f, (p, vox) => {
          if (vox !== k.at(p % v.width, Math.floor(p / v.width), f)) bad++;
        });
        expect(bad, `${k.plane} frame ${f}`).toBe(0);
      }
    }
  });

  it('windows CT by preset or centre,width and refuses an unknown one', () => {
    const vol = readNiftiVolume(ct.nii);
    expect(resolveWindow(vol)).toMatchObject({ name: 'soft-tissue', center: 40, width: 400 });
    expect(resolveWindow(vol, 'lung')).toMatchObject({ center: -600, width: 1500 });
    expect(resolveWindow(vol, '-50,350')).toMatchObject({ center: -50, width: 350 });
    expect(() => resolveWindow(vol, 'kidney')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    const v = planeView(vol, 'axial');
    const out = renderSlice(vol, v, ct.facts.middleSlice, resolveWindow(vol), new Uint8Array(v.width * v.height));
    // Air (corner) is black, the lesion (5 HU) darker than the liver around it (100 HU).
    expect(out[0]).toBe(0);
    const at = (i: number, j: number) => out[j * v.width + i]!;
    expect(at(80, 58) + 30).toBeLessThan(at(100, 70));
  });

  it('reads plane and window from the input suffix only when the path is a volume', () => {
    expect(parseVolumeSpec(`${ct.nii}#coronal:lung`)).toEqual({ path: ct.nii, plane: 'coronal', window: 'lung' });
    expect(parseVolumeSpec(ct.dicom)).toEqual({ path: ct.dicom });
    expect(parseVolumeSpec(join(ct.dir, 'volume.json'))).toBeNull();
    expect(parseVolumeSpec('rtsp://host/stream')).toBeNull();
  });
});
