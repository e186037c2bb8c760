import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDicomSeg } from '../../../engine/src/export/dicom-seg.js';
import { clipFrames, FAKE_PHI, writeUsCine, type UsCineFixture } from '../../fixtures/dicom/make-us-cine.js';
import { CLIP_DIR, fixtureVis, masksOf, OVERLAP_ID } from './fixture-vis.js';

const N = 8;
let dir: string;
let source: UsCineFixture;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cineseg-seg-'));
  source = await writeUsCine(join(dir, 'source.dcm'), await clipFrames(join(CLIP_DIR, 'clip.mp4'), N), 'native', { pixelSpacing: [0.2, 0.25] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** dciodvfy's findings that are errors (warnings about empty type 2 attributes are allowed). */
function validate(path: string): string[] {
  const r = spawnSync('dciodvfy', [path], { encoding: 'utf8' });
  const text = `${r.stdout}${r.stderr}`;
  expect(text).toMatch(/Segmentation/); // it recognised the IOD
  return text.split('\n').filter((l) => /^Error/.test(l));
}

const dump = (path: string, ...args: string[]) => execFileSync('dcmdump', [...args, path], { encoding: 'utf8', maxBuffer: 1 << 28 });
const tagValues = (text: string, tag: string) => [...text.matchAll(new RegExp(`\\(${tag}\\) \\w\\w \\[?([^\\]#]*?)\\]?\\s+#`, 'g'))].map((m) => m[1]!.trim());

describe('DICOM SEG export', () => {
  it('referencing a DICOM source: valid for dciodvfy, joins its study and frame of reference, masks read back bit for bit', async () => {
    const vis = fixtureVis(N);
    const out = join(dir, 'seg.dcm');
    const res = await exportDicomSeg(vis, out, { sourceDicom: source.path });
    expect(validate(out)).toEqual([]);
    const text = dump(out);
    expect(text).toMatch(/\(0008,0016\) UI =SegmentationStorage/);
    expect(tagValues(text, '0008,0060')).toEqual(['SEG']);
    expect(tagValues(text, '0020,000d')).toEqual([source.studyInstanceUid]);
    expect(tagValues(text, '0020,0052')).toEqual([source.frameOfReferenceUid]);
    expect(tagValues(text, '0062,0001')).toEqual(['BINARY']); // SegmentationType
    // Series in the Referenced Series Sequence, the instance in every frame's Source Image Sequence.
    expect(tagValues(text, '0020,000e')).toContain(source.seriesInstanceUid);
    const refs = tagValues(text, '0008,1155');
    expect(refs.length).toBe(res.frames + 1);
    expect(new Set(refs)).toEqual(new Set([source.sopInstanceUid]));
    // The patient is the source's (the SEG must belong to the same patient).
    expect(tagValues(text, '0010,0020')).toEqual([FAKE_PHI.PatientID]);
    expect(tagValues(text, '0062,0005')).toEqual(['object 1', 'object 2', `object ${OVERLAP_ID}`]);

    // Pixel data through dcmtk, unpacked here: frame k belongs to (segment, source frame) as the
    // per-frame functional groups say.
    const pw = join(dir, 'pw');
    mkdirSync(pw, { recursive: true });
    const withPixels = dump(out, '+W', pw);
    const segNums = tagValues(withPixels, '0062,000b').map(Number);
    const srcFrames = tagValues(withPixels, '0008,1160').map(Number);
    expect(segNums).toHaveLength(res.frames);
    expect(srcFrames).toHaveLength(res.frames);
    const bits = readFileSync(join(pw, 'seg.dcm.0.raw'));
    const { width: W, height: H } = vis.videos[0]!;
    const masks = masksOf(vis);
    const ids = [1, 2, OVERLAP_ID];
    let expected = 0;
    for (const id of ids) expected += masks.get(id)!.filter((m) => m && m.some((v) => v)).length;
    expect(res.frames).toBe(expected);
    for (let k = 0; k < res.frames; k++) {
      const want = masks.get(ids[segNums[k]! - 1]!)![srcFrames[k]! - 1]!;
      let diff = 0;
      for (let p = 0; p < W * H; p++) {
        const b = k * W * H + p;
        const got = (bits[b >> 3]! >> (b & 7)) & 1;
        if (got !== want[p]) diff++;
      }
      expect(diff).toBe(0);
    }
  });

  it('without a DICOM source: still valid, a new study, no references', async () => {
    const out = join(dir, 'seg-plain.dcm');
    const res = await exportDicomSeg(fixtureVis(3), out);
    expect(res.referencesSource).toBe(false);
    expect(validate(out)).toEqual([]);
    const text = dump(out);
    expect(tagValues(text, '0020,000d')).toEqual([res.studyInstanceUid]);
    expect(text).not.toMatch(/ReferencedSeriesSequence/);
  });

  it('refuses a source of another size', async () => {
    const small = await writeUsCine(join(dir, 'small.dcm'), { width: 16, height: 8, frames: [new Uint8Array(16 * 8 * 3)] }, 'native');
    await expect(exportDicomSeg(fixtureVis(1), join(dir, 'x.dcm'), { sourceDicom: small.path })).rejects.toMatchObject({ code: 'E_MASK_INVALID' });
  });
});
