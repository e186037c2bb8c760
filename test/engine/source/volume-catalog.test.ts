/**
 * Volumes in a media folder are clips: the catalog lists a NIfTI scan and a DICOM series folder
 * (not the label volumes) with their volume facts, resolves other planes by id, and the HLS cache
 * encodes the windowed slices with ffmpeg so the player shows them as any clip.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../../engine/src/decode/probe.js';
import { ClipCatalog } from '../../../engine/src/server/clip-catalog.js';
import { HlsCache } from '../../../engine/src/server/hls-cache.js';
import { ctFixture } from './volume-fixture.js';

let media: string;
let cache: string;
beforeAll(() => {
  const ct = ctFixture();
  const root = mkdtempSync(join(tmpdir(), 'cineseg-volcat-'));
  media = join(root, 'media');
  cache = join(root, 'cache');
  cpSync(ct.dir, join(media, 'ct-1'), { recursive: true });
});
afterAll(() => rmSync(join(media, '..'), { recursive: true, force: true }));

describe('volumes in the clip catalog', () => {
  it('lists the scans (NIfTI and DICOM series), not the label volumes, with volume facts', async () => {
    const cat = new ClipCatalog([media]);
    const clips = await cat.list();
    const ids = clips.map((c) => c.id).sort();
    expect(ids).toEqual(['media/ct-1/ct#axial', 'media/ct-1/ct-float#axial', 'media/ct-1/dicom#axial']);
    const ct = clips.find((c) => c.id === 'media/ct-1/ct#axial')!;
    expect([ct.width, ct.height, ct.frames]).toEqual([128, 128, 40]);
    expect(ct.volume).toMatchObject({ planes: ['axial', 'coronal', 'sagittal'], plane: 'axial', modality: 'CT' });
    expect(ct.volume!.spacingMm.map((v) => Math.round(v * 100) / 100)).toEqual([0.8, 0.8, 2.5]);
    expect(ct.volume!.windows!.map((w) => w.name)).toContain('lung');
  });

  it('resolves another plane and window of a listed volume, and nothing outside it', async () => {
    const cat = new ClipCatalog([media]);
    const c = await cat.get('media/ct-1/ct#coronal:lung');
    expect(c.path.endsWith('ct.nii.gz#coronal:lung')).toBe(true);
    const info = await probe(c.path);
    expect([info.width, info.height, info.frameCount]).toEqual([128, 40, 128]);
    await expect(cat.get('media/ct-1/labels#axial')).rejects.toMatchObject({ code: 'E_CLIP_UNKNOWN' });
    await expect(cat.get('media/nothing#coronal')).rejects.toMatchObject({ code: 'E_CLIP_UNKNOWN' });
  });

  it('packages a volume plane as HLS (H.264 of the windowed slices), one package per plane', async () => {
    const cat = new ClipCatalog([media]);
    const hls = new HlsCache(cache);
    try {
      const axial = await hls.ensure((await cat.get('media/ct-1/ct#axial')).path);
      const coronal = await hls.ensure((await cat.get('media/ct-1/ct#coronal')).path);
      expect(axial.hash).not.toBe(coronal.hash);
      expect(readFileSync(join(axial.dir, 'index.m3u8'), 'utf8')).toMatch(/seg00000\.ts/);
      const seg = await probe(join(axial.dir, 'seg00000.ts'));
      expect([seg.width, seg.height, seg.codec]).toEqual([128, 128, 'h264']);
      const again = await hls.ensure((await cat.get('media/ct-1/ct#axial')).path);
      expect(again.cacheHit).toBe(true);
    } finally {
      hls.destroy();
    }
  });
});
