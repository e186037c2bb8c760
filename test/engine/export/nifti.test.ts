import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as nifti from 'nifti-reader-js';
import { afterAll, describe, expect, it } from 'vitest';
import { exportNifti } from '../../../engine/src/export/nifti.js';
import { expectedLabelMap, fixtureVis } from './fixture-vis.js';

const dir = mkdtempSync(join(tmpdir(), 'cineseg-nifti-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(path: string) {
  const file = readFileSync(path);
  let data: ArrayBuffer = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  if (nifti.isCompressed(data)) data = nifti.decompress(data) as ArrayBuffer;
  expect(nifti.isNIFTI1(data)).toBe(true);
  const header = nifti.readHeader(data) as nifti.NIFTI1;
  const image = nifti.readImage(header, data);
  return { header, image, raw: new DataView(data) };
}

describe('NIfTI-1 export', () => {
  for (const name of ['labels.nii', 'labels.nii.gz']) {
    it(`${name}: nifti-reader-js reads a correct header and the same label volume`, () => {
      const vis = fixtureVis(8);
      const { width: W, height: H } = vis.videos[0]!;
      const out = join(dir, name);
      const res = exportNifti(vis, out, { pixelSpacing: [0.3, 0.25], frameTimeMs: 40 });
      expect(res.datatype).toBe('uint8');
      const { header: h, image, raw } = read(out);
      expect(raw.getInt32(0, true)).toBe(348); // sizeof_hdr
      expect(h.magic).toBe('n+1');
      expect(h.vox_offset).toBe(352);
      expect(h.dims.slice(0, 4)).toEqual([3, W, H, 8]);
      expect(h.datatypeCode).toBe(nifti.NIFTI1.TYPE_UINT8);
      expect(h.numBitsPerVoxel).toBe(8);
      expect(h.pixDims[1]).toBeCloseTo(0.25, 6); // column spacing along x
      expect(h.pixDims[2]).toBeCloseTo(0.3, 6); // row spacing along y
      expect(h.pixDims[3]).toBeCloseTo(40, 6); // frame time
      expect(h.qform_code).toBe(1);
      expect(h.sform_code).toBe(1);
      expect(h.affine[0]![0]).toBeCloseTo(0.25, 6);
      expect(h.affine[1]![1]).toBeCloseTo(0.3, 6);
      expect(h.affine[2]![2]).toBeCloseTo(40, 6);
      expect(h.intent_code).toBe(1002);
      expect(h.getUnitsCodeString(h.xyzt_units & 7)).toBe('Millimeters');
      const vox = new Uint8Array(image);
      expect(vox.length).toBe(W * H * 8);
      for (let t = 0; t < 8; t++) {
        const want = expectedLabelMap(vis, t);
        expect(Buffer.compare(Buffer.from(vox.subarray(t * W * H, (t + 1) * W * H)), Buffer.from(want))).toBe(0);
      }
      expect(JSON.parse(readFileSync(`${out}.labels.json`, 'utf8')).labels.map((l: { objectId: number }) => l.objectId)).toEqual([1, 2, 9]);
    });
  }

  it('switches to uint16 past 255 objects', () => {
    const vis = fixtureVis(1);
    const base = vis.annotations[0]!;
    for (let i = 0; i < 300; i++) vis.annotations.push({ ...base, id: 1000 + i, object_id: 1000 + i });
    const out = join(dir, 'many.nii');
    expect(exportNifti(vis, out).datatype).toBe('uint16');
    const { header: h, image } = read(out);
    expect(h.datatypeCode).toBe(nifti.NIFTI1.TYPE_UINT16);
    expect(h.numBitsPerVoxel).toBe(16);
    const vox = new Uint16Array(image);
    // Every copy of object 1 covers the same pixels; the last one (value 303) wins there.
    expect(vox.reduce((m, v) => Math.max(m, v), 0)).toBe(303);
  });
});
