/**
 * Shared inputs of the tracker tests: the first frames of the committed aquarium clip at the
 * model's size, held in memory, and its frame-0 mask.
 */
import { join } from 'node:path';
import { readPngMask } from '../../../engine/src/mask/png-mask.js';
import { loadBundle, type Bundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import type { FrameProvider } from '../../../engine/src/track/video-tracker.js';
import { DecodedFrames } from '../../../engine/src/track/decoded-frames.js';
import { REPO_ROOT, testBundleDir } from '../model/test-bundle.js';

export const AQUARIUM = join(REPO_ROOT, 'samples', 'real', 'aquarium.mp4');
export const AQUARIUM_W = 800;
export const AQUARIUM_H = 360;

export class ArrayFrames implements FrameProvider {
  constructor(readonly frames: Uint8Array[]) {}
  get numFrames(): number {
    return this.frames.length;
  }
  getFrame(i: number): Promise<Uint8Array> {
    return Promise.resolve(this.frames[i]!);
  }
}

export interface Fixture {
  bundle: Bundle;
  sessions: ModelSessions;
  frames: ArrayFrames;
  mask: Uint8Array;
}

export async function loadFixture(numFrames: number): Promise<Fixture> {
  const bundle = loadBundle(testBundleDir());
  const sessions = await ModelSessions.create(bundle, { ep: 'cpu' });
  const dec = await DecodedFrames.open(AQUARIUM, bundle.imageSize, { maxFrames: numFrames });
  const frames: Uint8Array[] = [];
  for (let i = 0; i < dec.numFrames; i++) frames.push(await dec.getFrame(i));
  await dec.destroy();
  const mask = readPngMask(join(REPO_ROOT, 'samples', 'real', 'aquarium-mask-frame0.png')).mask;
  return { bundle, sessions, frames: new ArrayFrames(frames), mask };
}

/** Fraction of equal pixels' IoU between two binary masks (1 when both empty). */
export function iou(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] && b[k]) i++;
    if (a[k] || b[k]) u++;
  }
  return u === 0 ? 1 : i / u;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k]! - b[k]!));
  return m;
}
