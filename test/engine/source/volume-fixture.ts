/**
 * The synthetic CT volume the volume tests share (samples/src/ct-volume.ts, made on demand like
 * the clips), and nibabel as an independent reader: Debian's python3-nibabel under
 * /usr/bin/python3, which nothing in cineseg uses.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeCtVolume } from '../../../samples/src/ct-volume.js';
import { GENERATED_DIR } from '../../global-setup.js';

export interface CtFixture {
  dir: string;
  nii: string;
  floatNii: string;
  labels: string;
  seed: string;
  dicom: string;
  facts: {
    dims: number[];
    affine: number[][];
    lesionSlices: [number, number];
    middleSlice: number;
    lesionVoxels: number;
    dicom: { seriesInstanceUid: string; sopInstanceUids: string[]; studyInstanceUid: string };
  };
}

export function ctFixture(): CtFixture {
  const { dir } = writeCtVolume(GENERATED_DIR, 1, { skipExisting: true });
  return {
    dir,
    nii: join(dir, 'ct.nii.gz'),
    floatNii: join(dir, 'ct-float.nii'),
    labels: join(dir, 'labels.nii.gz'),
    seed: join(dir, 'seed.nii.gz'),
    dicom: join(dir, 'dicom'),
    facts: JSON.parse(readFileSync(join(dir, 'volume.json'), 'utf8')) as CtFixture['facts'],
  };
}

/** Runs a Python snippet with nibabel and numpy imported as nib and np; returns stdout. */
export function nibabel(code: string, args: string[] = []): string {
  return execFileSync('/usr/bin/python3', ['-c', `import sys, json\nimport nibabel as nib\nimport numpy as np\n${code}`, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
}

/** nibabel's float64 voxel values (get_fdata, Fortran order = i fastest) and affine. */
export function nibabelRead(path: string): { shape: number[]; affine: number[][]; data: Float64Array; dtype: string } {
  const out = join(GENERATED_DIR, `.nib-${process.pid}-${Date.now()}.f64`);
  const meta = JSON.parse(
    nibabel(
      `img = nib.load(sys.argv[1])\nd = np.asarray(img.get_fdata(), dtype='<f8')\nd.ravel(order='F').tofile(sys.argv[2])\nprint(json.dumps({'shape': list(d.shape), 'affine': img.affine.tolist(), 'dtype': str(img.get_data_dtype())}))`,
      [path, out],
    ),
  ) as { shape: number[]; affine: number[][]; dtype: string };
  const buf = readFileSync(out);
  execFileSync('rm', ['-f', out]);
  return { ...meta, data: new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8) };
}
