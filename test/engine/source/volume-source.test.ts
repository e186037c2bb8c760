/**
 * A volume input decodes through ffmpeg as a clip of its windowed slices: probe facts, frame count
 * and every pixel of every frame equal the slice rendered in-process (gray replicated to R, G, B).
 */
import { describe, expect, it } from 'vitest';
import { probe } from '../../../engine/src/decode/probe.js';
import { FrameSource } from '../../../engine/src/decode/frame-source.js';
import { readNiftiVolume } from '../../../engine/src/source/nifti-volume.js';
import { planeView, renderSlice, resolveWindow, VOLUME_FPS } from '../../../engine/src/source/volume-slices.js';
import { ctFixture } from './volume-fixture.js';

async function decodeAll(input: string): Promise<{ width: number; height: number; rgb: Uint8Array }[]> {
  const src = await FrameSource.open(input);
  try {
    const out: { width: number; height: number; rgb: Uint8Array }[] = [];
    await new Promise<void>((resolve, reject) => src.frames().subscribe({ next: (f) => out.push({ width: f.width, height: f.height, rgb: f.rgb.slice() }), error: reject, complete: resolve }));
    return out;
  } finally {
    await src.destroy();
  }
}

describe('volume inputs as clips', () => {
  for (const [suffix, plane, window] of [
    ['', 'axial', undefined],
    ['#coronal:lung', 'coronal', 'lung'],
    ['#sagittal:-100,500', 'sagittal', '-100,500'],
  ] as const) {
    it(`ct.nii.gz${suffix}: probe and every decoded pixel match the rendered slices`, async () => {
      const ct = ctFixture();
      const input = ct.nii + suffix;
      const vol = readNiftiVolume(ct.nii);
      const view = planeView(vol, plane);
      const info = await probe(input);
      expect([info.width, info.height, info.frameCount, info.fps]).toEqual([view.width, view.height, view.depth, VOLUME_FPS]);
      const frames = await decodeAll(input);
      expect(frames).toHaveLength(view.depth);
      const win = resolveWindow(vol, window);
      let bad = 0;
      frames.forEach((f, t) => {
        const g = renderSlice(vol, view, t, win, new Uint8Array(view.width * view.height));
        for (let p = 0; p < g.length; p++) if (f.rgb[3 * p] !== g[p] || f.rgb[3 * p + 1] !== g[p] || f.rgb[3 * p + 2] !== g[p]) bad++;
      });
      expect(bad).toBe(0);
    });
  }

  it('a DICOM series folder decodes to the same frames as its NIfTI twin', async () => {
    const ct = ctFixture();
    const a = await decodeAll(ct.dicom);
    const b = await decodeAll(ct.nii);
    expect(a.length).toBe(b.length);
    expect(a.every((f, t) => Buffer.compare(f.rgb, b[t]!.rgb) === 0)).toBe(true);
  });

  it('refuses an unknown plane or window with E_USAGE', async () => {
    const ct = ctFixture();
    await expect(probe(`${ct.nii}#oblique`)).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(probe(`${ct.nii}#axial:kidney`)).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});
