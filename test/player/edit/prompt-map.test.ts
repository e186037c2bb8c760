import { describe, expect, it } from 'vitest';
import { encodeMask } from '../../../engine/src/mask/rle.js';
import type { PromptInfo } from '../../../engine/src/protocol.js';
import { emptyMaskNotice, promptMapOf } from '../../../player/src/edit/prompt-map.js';
import { hitPrompt, type PromptMark } from '../../../player/src/overlay/prompt-layer.js';

describe("the server's prompt list", () => {
  it('folds into per-frame replay prompts: clicks in order, a box restarting its frame, masks left out', () => {
    const list: PromptInfo[] = [
      { promptId: 1, objectId: 1, frame: 0, kind: 'points', points: [{ x: 1, y: 2, label: 1 }] },
      { promptId: 2, objectId: 1, frame: 0, kind: 'points', points: [{ x: 3, y: 4, label: 0 }] },
      { promptId: 3, objectId: 2, frame: 5, kind: 'points', points: [{ x: 9, y: 9, label: 1 }] },
      { promptId: 4, objectId: 2, frame: 5, kind: 'box', points: [], box: [1, 1, 20, 20] },
      { promptId: 5, objectId: 2, frame: 5, kind: 'points', points: [{ x: 5, y: 5, label: 0 }] },
      { promptId: 6, objectId: 1, frame: 7, kind: 'mask', points: [] },
    ];
    const m = promptMapOf(list);
    expect([...m.keys()]).toEqual(['1:0', '2:5']);
    expect(m.get('1:0')!.points).toEqual([
      { x: 1, y: 2, label: 1 },
      { x: 3, y: 4, label: 0 },
    ]);
    expect(m.get('2:5')).toEqual({ objectId: 2, frame: 5, box: [1, 1, 20, 20], points: [{ x: 5, y: 5, label: 0 }] });
  });

  it('names the visible objects whose mask on the frame is empty', () => {
    const full = new Uint8Array(12);
    full[3] = 1;
    const masks = new Map([
      [1, { counts: encodeMask(full, 3, 4).counts }],
      [2, { counts: [12] }],
      [3, { counts: [12, 0] }],
    ]);
    expect(emptyMaskNotice(14, masks, new Set())).toBe('no mask for objects 2, 3 on frame 14');
    expect(emptyMaskNotice(14, masks, new Set([3]))).toBe('no mask for object 2 on frame 14');
    expect(emptyMaskNotice(14, new Map([[1, masks.get(1)!]]), new Set())).toBeNull();
    expect(emptyMaskNotice(14, undefined, new Set())).toBeNull();
  });

  it('hit-tests markers and box edges in screen pixels', () => {
    const marks: PromptMark[] = [
      { promptId: 1, objectId: 1, frame: 0, kind: 'points', points: [{ x: 10, y: 10, label: 1 }] },
      { promptId: 2, objectId: 1, frame: 0, kind: 'box', points: [], box: [40, 40, 80, 60] },
    ];
    const g = { sx: 2, sy: 2 };
    expect(hitPrompt(marks, 22, 18, g)?.promptId).toBe(1);
    expect(hitPrompt(marks, 40, 40, g)).toBeNull();
    expect(hitPrompt(marks, 81, 100, g)?.promptId).toBe(2);
    // Inside the box but far from its edges: not a hit (a click there is a new point).
    expect(hitPrompt(marks, 120, 100, g)).toBeNull();
  });
});
