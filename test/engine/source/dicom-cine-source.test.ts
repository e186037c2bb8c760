import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CinesegError, FrameSource } from 'cineseg';
import { decodeDicomRleFrame, isDicomFile, readDicomCine, readDicomCineInfo } from '../../../engine/src/source/dicom-cine-source.js';
import { clipFrames, encodeRleFrame, FAKE_PHI, writeUsCine } from '../../fixtures/dicom/make-us-cine.js';
import { GENERATED_DIR } from '../../global-setup.js';

const CLIP = join(GENERATED_DIR, 'ultrasound-1', 'clip.mp4');
const N = 6;
// PatientSex is one letter, too short to search for; every other fake identifier is distinctive.
const PHI_VALUES = Object.values(FAKE_PHI).filter((v) => v.length > 3);
let dir: string;
let src: { width: number; height: number; frames: Uint8Array[] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cineseg-dicom-src-'));
  src = await clipFrames(CLIP, N);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/** Decodes every frame of a source through ffmpeg, as the tracker would see them. */
async function decodeAll(path: string): Promise<{ src: FrameSource; frames: Uint8Array[] }> {
  const fs = await FrameSource.open(path);
  const dec = fs.decoder();
  const frames: Uint8Array[] = [];
  for (let f = await dec.next(); f; f = await dec.next()) frames.push(new Uint8Array(f.rgb));
  await dec.destroy();
  return { src: fs, frames };
}

describe('DICOM ultrasound cine as a source', () => {
  it('the fixture is a real DICOM file dcmdump reads (US multi-frame, frame time in the header)', async () => {
    const f = await writeUsCine(join(dir, 'native.dcm'), src, 'native', { frameTimeMs: 40 });
    expect(await isDicomFile(f.path)).toBe(true);
    expect(await isDicomFile(CLIP)).toBe(false);
    const dump = execFileSync('dcmdump', ['+P', '0008,0016', '+P', '0018,1063', '+P', '0028,0008', f.path], { encoding: 'utf8' });
    expect(dump).toMatch(/UltrasoundMultiframeImageStorage/);
    expect(dump).toMatch(/\[40\]/);
    expect(dump).toMatch(new RegExp(`\\[${N}\\]`));
  });

  for (const enc of ['native', 'native-ybr422', 'rle', 'jpeg'] as const) {
    it(`${enc}: opens like any file, with the header's rate, and decodes the same pictures`, async () => {
      const f = await writeUsCine(join(dir, `${enc}.dcm`), src, enc, { frameTimeMs: 40, pixelSpacing: [0.2, 0.25] });
      const info = await readDicomCineInfo(f.path);
      expect(info).toMatchObject({ width: src.width, height: src.height, numFrames: N, frameTimeMs: 40, rateSource: 'FrameTime' });
      expect(info.refs).toMatchObject({ sopInstanceUid: f.sopInstanceUid, studyInstanceUid: f.studyInstanceUid, frameOfReferenceUid: f.frameOfReferenceUid, pixelSpacing: [0.2, 0.25] });
      const { src: fs, frames } = await decodeAll(f.path);
      try {
        expect(fs.info).toMatchObject({ width: src.width, height: src.height, frameCount: N });
        expect(fs.info!.fps).toBeCloseTo(25, 3);
        expect(frames).toHaveLength(N);
        for (let i = 0; i < N; i++) {
          const d = meanAbsDiff(frames[i]!, src.frames[i]!);
          // Lossless encodings give the pixels back exactly; 4:2:2 chroma and JPEG lose a little.
          if (enc === 'native' || enc === 'rle') expect(d).toBe(0);
          else {
            expect(d).toBeLessThan(2.5);
            // Close is not enough (neighbouring frames are close too): frame i must match source frame i best.
            for (let j = 0; j < N; j++) if (j !== i) expect(d).toBeLessThan(meanAbsDiff(frames[i]!, src.frames[j]!));
          }
        }
      } finally {
        await fs.destroy();
      }
    });
  }

  for (const enc of ['native-mono', 'native-mono12'] as const) {
    it(`${enc}: grayscale frames come out as equal R, G and B`, async () => {
      const f = await writeUsCine(join(dir, `${enc}.dcm`), src, enc);
      const { src: fs, frames } = await decodeAll(f.path);
      await fs.destroy();
      expect(frames).toHaveLength(N);
      for (let i = 0; i < N; i++) {
        const a = frames[i]!;
        const b = src.frames[i]!;
        let worst = 0;
        let notGray = 0;
        for (let p = 0; p < a.length / 3; p++) {
          if (a[3 * p] !== a[3 * p + 1] || a[3 * p + 2] !== a[3 * p + 1]) notGray++;
          worst = Math.max(worst, Math.abs(a[3 * p + 1]! - b[3 * p + 1]!));
        }
        expect(notGray).toBe(0);
        // 8 bit is exact; 12 bit scaled to 8 rounds (value * 16 * 255 / 4095).
        expect(worst).toBeLessThanOrEqual(enc === 'native-mono' ? 0 : 1);
      }
    });
  }

  it('uses the mean of Frame Time Vector when there is no Frame Time', async () => {
    const f = await writeUsCine(join(dir, 'vector.dcm'), src, 'native', { frameTimeVector: [0, 30, 34, 30, 34, 32] });
    const info = await readDicomCineInfo(f.path);
    expect(info.rateSource).toBe('FrameTimeVector');
    expect(info.frameTimeMs).toBeCloseTo(32, 6);
    expect(info.frameTimeVectorMs).toEqual([0, 30, 34, 30, 34, 32]);
    const fs = await FrameSource.open(f.path);
    expect(fs.info!.fps).toBeCloseTo(31.25, 2);
    await fs.destroy();
  });

  it('RLE: the decoder inverts an independent PackBits encoder exactly', () => {
    const w = 37;
    const h = 5;
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = i % 7 < 3 ? 200 : (i * 31) % 256;
    const segs = decodeDicomRleFrame(encodeRleFrame(rgb, w, h), w * h);
    expect(segs).toHaveLength(3);
    for (let p = 0; p < w * h; p++) for (let s = 0; s < 3; s++) expect(segs[s]![p]).toBe(rgb[3 * p + s]);
  });

  it('errors about a DICOM file never carry patient data', async () => {
    const f = await writeUsCine(join(dir, 'phi.dcm'), src, 'native');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const bytes = readFileSync(f.path);
    // Truncate inside the pixel data: the header (with the PHI) parses, the frames do not add up.
    const cut = join(dir, 'phi-truncated.dcm');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 5000));
    // A transfer syntax we do not decode (JPEG 2000), with the same patient header.
    const j2k = (await writeUsCine(join(dir, 'phi-j2k.dcm'), src, 'native', { transferSyntaxUid: '1.2.840.10008.1.2.4.90' })).path;
    const errs: CinesegError[] = [];
    for (const p of [cut, j2k]) {
      try {
        await readDicomCine(p);
      } catch (e) {
        errs.push(e as CinesegError);
      }
      try {
        await FrameSource.open(p);
      } catch (e) {
        errs.push(e as CinesegError);
      }
    }
    expect(errs.map((e) => e.code)).toEqual(['E_DECODE_CORRUPT', 'E_DECODE_CORRUPT', 'E_INPUT_UNSUPPORTED', 'E_INPUT_UNSUPPORTED']);
    for (const e of errs) {
      expect(e).toBeInstanceOf(CinesegError);
      const text = `${e.message} ${JSON.stringify(e.details ?? {})} ${String((e.cause as Error | undefined)?.message ?? '')}`;
      for (const v of PHI_VALUES) expect(text).not.toContain(v);
    }
    // And a readable file's description has no patient attribute at all.
    const info = JSON.stringify(await readDicomCineInfo(f.path));
    for (const v of PHI_VALUES) expect(info).not.toContain(v);
  });
});
