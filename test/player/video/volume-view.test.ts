/**
 * The player's volume-view helpers against the engine's own plane geometry (source/volume-slices.ts
 * planeView): the spacing the player derives for another plane from the listed one must be what
 * the server's view of that plane has, for volumes stored in different voxel orders; view ids
 * parse as the catalog names them; a stored view finds its listed clip.
 */
import { describe, expect, it } from 'vitest';
import { planeView, PLANES } from '../../../engine/src/source/volume-slices.js';
import type { ClipInfo } from '../../../engine/src/protocol.js';
import { displayAspect, hlsUrlOf, listedClipOf, parseViewId, viewSpacing, type VolumeInfo } from '../../../player/src/video/volume-view.js';

/** Affines whose voxel axes point along different patient axes (RAS, a permuted LPS-like one). */
const VOLUMES = [
  {
    dims: [128, 128, 40] as [number, number, number],
    spacing: [0.8, 0.8, 2.5] as [number, number, number],
    affine: [
      [-0.8, 0, 0, 51],
      [0, -0.8, 0, 51],
      [0, 0, 2.5, -50],
      [0, 0, 0, 1],
    ],
  },
  {
    dims: [30, 50, 70] as [number, number, number],
    spacing: [3, 0.5, 1.2] as [number, number, number],
    affine: [
      [0, 0, 1.2, 0],
      [3, 0, 0, 0],
      [0, -0.5, 0, 0],
      [0, 0, 0, 1],
    ],
  },
];

describe('volume views in the player', () => {
  it.each(VOLUMES.map((v, i) => [i, v] as const))('volume %i: every plane’s spacing from the axial listing matches the engine’s plane view', (_i, vol) => {
    const axial = planeView(vol, 'axial');
    const listed: VolumeInfo = { planes: [...PLANES], plane: 'axial', spacingMm: axial.spacingMm, modality: 'CT' };
    for (const p of PLANES) expect(viewSpacing(listed, p)).toEqual(planeView(vol, p).spacingMm);
    // And from a coronal listing back to the others.
    const coronal: VolumeInfo = { ...listed, plane: 'coronal', spacingMm: planeView(vol, 'coronal').spacingMm };
    for (const p of PLANES) expect(viewSpacing(coronal, p)).toEqual(planeView(vol, p).spacingMm);
  });

  it('stretches pixels by their spacing', () => {
    expect(displayAspect(128, 40, [0.8, 2.5, 0.8])).toBeCloseTo(1.024, 6);
    expect(displayAspect(128, 128, [0.8, 0.8, 2.5])).toBe(1);
    expect(displayAspect(100, 50, [0, 0, 0])).toBe(2);
  });

  it('parses view ids and finds the listed clip of a stored view', () => {
    expect(parseViewId('generated/ct-1/ct#coronal:liver')).toEqual({ base: 'generated/ct-1/ct', view: { plane: 'coronal', window: 'liver' } });
    expect(parseViewId('generated/ct-1/ct#axial')).toEqual({ base: 'generated/ct-1/ct', view: { plane: 'axial' } });
    expect(parseViewId('generated/endoscopy-1')).toBeNull();
    expect(parseViewId('x#notaplane')).toBeNull();
    const vol: VolumeInfo = { planes: [...PLANES], plane: 'axial', spacingMm: [1, 1, 1], modality: 'CT' };
    const clips: ClipInfo[] = [
      { id: 'generated/endoscopy-1', name: 'endoscopy-1', width: 480, height: 360, fps: 30, frames: 68, hlsUrl: '/hls/generated%2Fendoscopy-1/index.m3u8' },
      { id: 'generated/ct-1/ct#axial', name: 'ct-1/ct (axial)', width: 128, height: 128, fps: 10, frames: 40, hlsUrl: '/hls/generated%2Fct-1%2Fct%23axial/index.m3u8', volume: vol },
    ];
    expect(listedClipOf(clips, 'generated/endoscopy-1')).toEqual({ clip: clips[0] });
    expect(listedClipOf(clips, 'generated/ct-1/ct#sagittal:bone')).toEqual({ clip: clips[1], view: { plane: 'sagittal', window: 'bone' } });
    expect(listedClipOf(clips, 'generated/other#axial')).toBeNull();
    expect(hlsUrlOf(clips[1]!, 'generated/ct-1/ct#axial')).toBe(clips[1]!.hlsUrl);
    expect(hlsUrlOf(clips[1]!, 'generated/ct-1/ct#coronal:liver')).toBe('/hls/generated%2Fct-1%2Fct%23coronal%3Aliver/index.m3u8');
  });
});
