/**
 * Exports of masks tracked on a volume keep the source's geometry: the NIfTI label volume is in
 * the input's voxel grid with its affine (checked with nibabel), whatever plane was tracked, and
 * the DICOM SEG of a series references every slice it covers by SOP Instance UID (dcmdump,
 * dciodvfy). The masks are the ground-truth labels sliced in a plane, so a round trip is exact.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDicomSeg } from '../../../engine/src/export/dicom-seg.js';
import { exportNifti } from '../../../engine/src/export/nifti.js';
import { encodeMaskCompressed } from '../../../engine/src/mask/rle.js';
import type { VisJson } from '../../../engine/src/mask/vis-json.js';
import { readNiftiVolume } from '../../../engine/src/source/nifti-volume.js';
import { forEachSliceVoxel, planeView, type Plane } from '../../../engine/src/source/volume-slices.js';
import { ctFixture, nibabelRead, type CtFixture } from '../source/volume-fixture.js';

let ct: CtFixture;
let dir: string;
beforeAll(() => {
  ct = ctFixture();
  dir = mkdtempSync(join(tmpdir(), 'cineseg-volexp-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The label volume's lesion as a VIS result on `input` (a volume input string) in `plane`. */
function labelsAsVis(input: string, plane: Plane): VisJson {
  const labels = readNiftiVolume(ct.labels);
  const view = planeView(labels, plane);
  const segs = [];
  for (let t = 0; t < view.depth; t++) {
    const m = new Uint8Array(view.width * view.height);
    forEachSliceVoxel(view, t, (p, v) => {
      m[p] = labels.data[v] === 1 ? 1 : 0;
    });
    segs.push(encodeMaskCompressed(m, view.height, view.width));
  }
  return {
    videos: [{ id: 1, width: view.width, height: view.height, length: view.depth, fps: 10, file: input }],
    categories: [{ id: 1, name: 'lesion' }],
    annotations: [{ id: 1, video_id: 1, object_id: 1, category_id: 1, segmentations: segs, scores: segs.map(() => 0.9) }],
  };
}

describe('NIfTI export of a volume', () => {
  for (const plane of ['axial', 'coronal', 'sagittal'] as const) {
    it(`${plane} masks land in the input's grid and affine (nibabel)`, () => {
      const out = join(dir, `labels-${plane}.nii.gz`);
      const res = exportNifti(labelsAsVis(`${ct.nii}#${plane}`, plane), out);
      expect(res.dims).toEqual(ct.facts.dims);
      const got = nibabelRead(out);
      const input = nibabelRead(ct.nii);
      const truth = nibabelRead(ct.labels);
      expect(got.shape).toEqual(input.shape);
      expect(got.affine).toEqual(input.affine);
      let diff = 0;
      for (let i = 0; i < truth.data.length; i++) if (got.data[i] !== truth.data[i]) diff++;
      expect(diff).toBe(0);
      // qform and sform both kept, as the input has them.
      const codes = execFileSync(
        '/usr/bin/python3',
        ['-c', 'import sys, nibabel as n; h = n.load(sys.argv[1]).header; print(int(h["qform_code"]), int(h["sform_code"]), h.get_qform().tolist() == h.get_sform().tolist())', out],
        { encoding: 'utf8' },
      );
      expect(codes.trim()).toBe('1 1 True');
    });
  }

  it('a DICOM series source gets its RAS affine as sform', () => {
    const out = join(dir, 'labels-dicom.nii');
    exportNifti(labelsAsVis(ct.dicom, 'axial'), out);
    const got = nibabelRead(out);
    const input = nibabelRead(ct.nii);
    expect(got.shape).toEqual(input.shape);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(got.affine[r]![c]!).toBeCloseTo(input.affine[r]![c]!, 4);
  });
});

describe('DICOM SEG of a series', () => {
  it('references the series and each covered slice by SOP Instance UID; frames are the labelled slices bit for bit', async () => {
    const out = join(dir, 'seg.dcm');
    // Tracked in the sagittal plane: the SEG still has one frame per source (axial) slice.
    const res = await exportDicomSeg(labelsAsVis(`${ct.dicom}#sagittal`, 'sagittal'), out);
    const [k0, k1] = ct.facts.lesionSlices;
    expect(res.frames).toBe(k1 - k0 + 1);
    expect(res.studyInstanceUid).toBe(ct.facts.dicom.studyInstanceUid);
    expect(res.referencesSource).toBe(true);
    const r = spawnSync('dciodvfy', [out], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toMatch(/Segmentation/);
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => /^Error/.test(l))).toEqual([]);
    const pw = join(dir, 'pw');
    mkdirSync(pw, { recursive: true });
    const text = execFileSync('dcmdump', ['+W', pw, out], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const values = (tag: string) => [...text.matchAll(new RegExp(`\\(${tag}\\) \\w\\w \\[?([^\\]#]*?)\\]?\\s+#`, 'g'))].map((m) => m[1]!.trim());
    const uids = ct.facts.dicom.sopInstanceUids;
    const refs = values('0008,1155');
    // Referenced Series Sequence: all 40 instances, then one Source Image reference per frame.
    expect(refs.slice(0, uids.length)).toEqual(uids);
    const perFrame = refs.slice(uids.length);
    expect(perFrame).toEqual(uids.slice(k0, k1 + 1));
    expect(values('0020,000e')).toContain(ct.facts.dicom.seriesInstanceUid);
    const [nx, ny] = ct.facts.dims as [number, number];
    expect(values('0028,0010')).toEqual([String(ny)]);
    expect(values('0028,0011')).toEqual([String(nx)]);
    const bits = readFileSync(join(pw, 'seg.dcm.0.raw'));
    const labels = readNiftiVolume(ct.labels);
    let diff = 0;
    for (let f = 0; f < res.frames; f++) {
      const k = k0 + f;
      for (let p = 0; p < nx * ny; p++) {
        const b = f * nx * ny + p;
        if (((bits[b >> 3]! >> (b & 7)) & 1) !== (labels.data[k * nx * ny + p] === 1 ? 1 : 0)) diff++;
      }
    }
    expect(diff).toBe(0);
  });
});
