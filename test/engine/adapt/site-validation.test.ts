/**
 * The validation split of `finetune` (adapt/site-validation.ts planValidation): which clips train,
 * which are held out whole, and which frames each validation segment starts from. Built on small
 * annotated clips in memory (the split reads only labels, lengths and masks).
 */
import { describe, expect, it } from 'vitest';
import { planValidation } from '../../../engine/src/adapt/site-validation.js';
import type { AnnotatedClip } from '../../../engine/src/adapt/training-data.js';
import { CinesegError } from '../../../engine/src/errors.js';

const W = 16;
const H = 12;

/** A clip of n frames whose objects are visible (a 6x6 square) from frame `from` on. */
function clip(name: string, label: string, n = 20, from = 0, objects = 1): AnnotatedClip {
  const on = new Uint8Array(W * H);
  for (let y = 2; y < 8; y++) for (let x = 2; x < 8; x++) on[y * W + x] = 1;
  return {
    name,
    clip: `/clips/${name}.mp4`,
    origin: 'test',
    width: W,
    height: H,
    numFrames: n,
    contentHash: name,
    objects: Array.from({ length: objects }, (_, k) => ({ objectId: k + 1, label, masks: Array.from({ length: n }, (_, t) => (t >= from ? on : null)) })),
    annotatedFrames: n - from,
  };
}

describe('planValidation', () => {
  it('auto with fewer than 4 clips of a kind: the last quarter of every clip, every clip trains', () => {
    const clips = [clip('us1', 'vessel'), clip('us2', 'vessel'), clip('us3', 'vessel'), clip('en1', 'polyp', 40)];
    const p = planValidation(clips, 0.25);
    expect(p.trainFrames).toEqual([
      [0, 15],
      [0, 15],
      [0, 15],
      [0, 30],
    ]);
    expect(p.items.map((i) => [i.clip, i.startFrame, i.endFrame])).toEqual([
      ['/clips/us1.mp4', 15, 19],
      ['/clips/us2.mp4', 15, 19],
      ['/clips/us3.mp4', 15, 19],
      ['/clips/en1.mp4', 30, 39],
    ]);
    expect(p.description).toBe('the last 25 % of each clip');
  });

  it('auto with 4 or more clips of a kind: every 4th clip of that kind held out whole, never trained, validated from its first visible frame', () => {
    const us = Array.from({ length: 5 }, (_, i) => clip(`us${i + 1}`, 'vessel', 20, i === 3 ? 4 : 0));
    const en = [clip('en1', 'polyp'), clip('en2', 'polyp')];
    // Interleaved: the order within a kind decides, not the position in the list.
    const clips = [us[0]!, en[0]!, us[1]!, us[2]!, en[1]!, us[3]!, us[4]!];
    const p = planValidation(clips, 0.25);
    expect(p.trainFrames.map((t, i) => [clips[i]!.name, t])).toEqual([
      ['us1', [0, 15]],
      ['en1', [0, 15]],
      ['us2', [0, 15]],
      ['us3', [0, 15]],
      ['en2', [0, 15]],
      ['us4', null],
      ['us5', [0, 15]],
    ]);
    const us4 = p.items.filter((i) => i.clip === '/clips/us4.mp4');
    expect(us4).toEqual([{ clip: '/clips/us4.mp4', objectId: 1, startFrame: 4, endFrame: 19 }]);
    // The trained clips still validate on their tails only.
    expect(p.items.filter((i) => i.clip !== '/clips/us4.mp4').every((i) => i.startFrame === 15)).toBe(true);
    expect(p.description).toBe('1 whole clip(s) held out (us4); the last 25 % of the other clips');
  });

  it('clips forces whole clips for every kind (the last of 2-3), and refuses a kind with one clip; time never holds a clip out', () => {
    const clips = [clip('a1', 'polyp'), clip('a2', 'polyp'), clip('b1', 'vessel'), clip('b2', 'vessel'), clip('b3', 'vessel')];
    const p = planValidation(clips, 0.25, 'clips');
    expect(p.trainFrames.map((t) => t === null)).toEqual([false, true, false, false, true]);
    expect(p.items.filter((i) => i.startFrame === 0).map((i) => i.clip)).toEqual(['/clips/a2.mp4', '/clips/b3.mp4']);
    expect(() => planValidation([...clips, clip('c1', 'tool')], 0.25, 'clips')).toThrow(CinesegError);
    const many = Array.from({ length: 8 }, (_, i) => clip(`u${i}`, 'vessel'));
    expect(planValidation(many, 0.25, 'time').trainFrames.every((t) => t !== null)).toBe(true);
    expect(planValidation(many, 0.25).trainFrames.map((t) => t === null)).toEqual([false, false, false, true, false, false, false, true]);
  });
});
