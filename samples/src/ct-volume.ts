/**
 * A synthetic CT-like volume with one ellipsoid "lesion" and its exact label volume, written as
 * NIfTI and as a DICOM CT series in the same voxel grid, under `<out>/ct-<seed>/`:
 *   ct.nii.gz        int16, stored = HU + 1024 with scl_slope 1, scl_inter -1024
 *   ct-float.nii     float32 HU, uncompressed
 *   labels.nii.gz    uint8 label volume (1 = lesion), the ground truth
 *   seed.nii.gz      uint8, only the lesion's middle axial slice labelled (a one-slice prompt)
 *   dicom/           one file per slice, names and Instance Numbers NOT in position order
 *   volume.json      dims, spacing, affine, lesion slices and the middle slice
 *
 * Geometry: 128 x 128 x 40 voxels of 0.8 x 0.8 x 2.5 mm. The affine is diag(-0.8, -0.8, 2.5)
 * plus an origin (RAS+), i.e. voxel i runs to patient left and j to posterior, as a DICOM axial
 * slice's columns and rows do, so the DICOM series (Image Orientation 1\0\0\0\1\0) is the same grid.
 * The phantom: air, an elliptic body of soft tissue (40 HU), a contrast-enhanced liver-like region
 * (100 HU), two lungs (-850 HU), a spine (700 HU), Gaussian noise, and a hypodense lesion (5 HU, a
 * cyst) in the liver.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashString, Rng } from './prng.js';
import { ctSliceBytes, NIFTI_FLOAT32, NIFTI_INT16, NIFTI_UINT8, niftiBytes, type NiftiWrite } from './volume-files.js';

export const CT_DIMS: [number, number, number] = [128, 128, 40];
export const CT_SPACING: [number, number, number] = [0.8, 0.8, 2.5];
const ORIGIN_RAS: [number, number, number] = [51, 51, -50];
/** Lesion centre (voxels) and radii (voxels). */
const LESION = { c: [80, 58, 20], r: [17, 14, 7.5] };

export interface CtVolumeResult {
  dir: string;
  skipped: boolean;
  lesionSlices: [number, number];
}

/** HU volume and label volume of the phantom for `seed` (pure function of the seed). */
export function renderCtPhantom(seed: number): { hu: Int16Array; labels: Uint8Array; lesionSlices: [number, number] } {
  const [nx, ny, nz] = CT_DIMS;
  const rng = new Rng(hashString(`ct-volume:${seed}`));
  const hu = new Int16Array(nx * ny * nz);
  const labels = new Uint8Array(nx * ny * nz);
  let kMin = nz;
  let kMax = -1;
  const inside = (x: number, y: number, cx: number, cy: number, rx: number, ry: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  for (let k = 0; k < nz; k++) {
    const z = (k - nz / 2) / nz; // -0.5 .. 0.5
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        let v = -1000;
        if (inside(i, j, 64, 64, 56 - 6 * z * z, 44)) {
          v = 40;
          if (inside(i, j, 82, 60, 26, 22)) v = 100; // contrast-enhanced liver-like region (patient left in this grid is +i)
          if (z > -0.1 && (inside(i, j, 42, 50, 14, 20) || inside(i, j, 86, 50, 12, 18))) v = -850; // lungs, upper half
          if (inside(i, j, 64, 96, 8, 8)) v = 700; // spine
        }
        const d = ((i - LESION.c[0]!) / LESION.r[0]!) ** 2 + ((j - LESION.c[1]!) / LESION.r[1]!) ** 2 + ((k - LESION.c[2]!) / LESION.r[2]!) ** 2;
        const p = i + nx * (j + ny * k);
        if (d <= 1) {
          v = 5;
          labels[p] = 1;
          kMin = Math.min(kMin, k);
          kMax = Math.max(kMax, k);
        }
        const noise = v <= -900 ? 8 : 14;
        hu[p] = Math.max(-1024, Math.min(3071, Math.round(v + noise * rng.gauss())));
      }
    }
  }
  return { hu, labels, lesionSlices: [kMin, kMax] };
}

function uid(seed: number, what: string): string {
  // 2.25.<decimal>: a UID from a number (PS3.5 B.2); deterministic per seed.
  const a = BigInt(hashString(`${what}:a:${seed}`)) | 1n;
  const b = BigInt(hashString(`${what}:b:${seed}`));
  return `2.25.${(a << 64n) | (b << 32n) | BigInt(hashString(`${what}:c:${seed}`))}`;
}

/** Writes the volume's files (see the module comment); kept when volume.json exists and skipExisting. */
export function writeCtVolume(outRoot: string, seed: number, opts: { skipExisting: boolean }): CtVolumeResult {
  const dir = join(outRoot, `ct-${seed}`);
  const [nx, ny, nz] = CT_DIMS;
  if (opts.skipExisting && existsSync(join(dir, 'volume.json'))) return { dir, skipped: true, lesionSlices: [0, 0] };
  mkdirSync(join(dir, 'dicom'), { recursive: true });
  const { hu, labels, lesionSlices } = renderCtPhantom(seed);
  const srow: NiftiWrite['srow'] = [
    [-CT_SPACING[0], 0, 0, ORIGIN_RAS[0]],
    [0, -CT_SPACING[1], 0, ORIGIN_RAS[1]],
    [0, 0, CT_SPACING[2], ORIGIN_RAS[2]],
  ];
  // diag(-1, -1, 1) is a half turn about z: quaternion (a, b, c, d) = (0, 0, 0, 1).
  const base = { dims: CT_DIMS, pixdim: CT_SPACING, srow, quatern: [0, 0, 1] as [number, number, number], qfac: 1 as const };
  const stored = Int16Array.from(hu, (v) => v + 1024);
  writeFileSync(join(dir, 'ct.nii.gz'), niftiBytes({ ...base, datatype: NIFTI_INT16, values: stored, sclSlope: 1, sclInter: -1024, descrip: 'cineseg synthetic CT', gzip: true }));
  writeFileSync(join(dir, 'ct-float.nii'), niftiBytes({ ...base, datatype: NIFTI_FLOAT32, values: hu, descrip: 'cineseg synthetic CT (float)', gzip: false }));
  writeFileSync(join(dir, 'labels.nii.gz'), niftiBytes({ ...base, datatype: NIFTI_UINT8, values: labels, intentLabel: true, descrip: 'lesion labels', gzip: true }));
  const middle = Math.round((lesionSlices[0] + lesionSlices[1]) / 2);
  const seedLabels = new Uint8Array(labels.length);
  seedLabels.set(labels.subarray(middle * nx * ny, (middle + 1) * nx * ny), middle * nx * ny);
  writeFileSync(join(dir, 'seed.nii.gz'), niftiBytes({ ...base, datatype: NIFTI_UINT8, values: seedLabels, intentLabel: true, descrip: 'lesion middle slice', gzip: true }));

  // The DICOM series: LPS = RAS with x and y negated; rows along +x (left), columns along +y.
  const study = uid(seed, 'study');
  const series = uid(seed, 'series');
  const frame = uid(seed, 'frame-of-reference');
  const order = Array.from({ length: nz }, (_, k) => k);
  const rng = new Rng(hashString(`ct-volume-files:${seed}`));
  for (let k = nz - 1; k > 0; k--) {
    const r = rng.int(0, k);
    [order[k], order[r]] = [order[r]!, order[k]!];
  }
  const sopUids: string[] = [];
  for (let k = 0; k < nz; k++) {
    const sop = uid(seed * 1000 + k, 'sop');
    sopUids.push(sop);
    const bytes = ctSliceBytes({
      sopInstanceUid: sop,
      studyInstanceUid: study,
      seriesInstanceUid: series,
      frameOfReferenceUid: frame,
      instanceNumber: nz - k, // descending: order must come from the positions
      rows: ny,
      columns: nx,
      pixelSpacing: [CT_SPACING[1], CT_SPACING[0]],
      sliceThickness: CT_SPACING[2],
      position: [-ORIGIN_RAS[0], -ORIGIN_RAS[1], ORIGIN_RAS[2] + k * CT_SPACING[2]],
      orientation: [1, 0, 0, 0, 1, 0],
      stored: Uint16Array.from(stored.subarray(k * nx * ny, (k + 1) * nx * ny)),
      rescaleIntercept: -1024,
    });
    writeFileSync(join(dir, 'dicom', `IM${String(order[k]).padStart(4, '0')}.dcm`), bytes);
  }
  const facts = {
    dims: CT_DIMS,
    spacingMm: CT_SPACING,
    affine: [...srow, [0, 0, 0, 1]],
    modality: 'CT',
    lesionLabel: 1,
    lesionSlices,
    middleSlice: middle,
    lesionVoxels: labels.reduce((a, b) => a + b, 0),
    dicom: { studyInstanceUid: study, seriesInstanceUid: series, frameOfReferenceUid: frame, sopInstanceUids: sopUids },
  };
  writeFileSync(join(dir, 'volume.json'), `${JSON.stringify(facts, null, 1)}\n`);
  return { dir, skipped: false, lesionSlices };
}
