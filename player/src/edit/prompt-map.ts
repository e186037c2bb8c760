/**
 * The server's prompt list (`prompts` message) folded into what the player replays into a fresh
 * session when the server lost it: per object and frame, the clicks in order and the box. Mask
 * prompts carry no pixels in the list, so they are not replayed (a restored session keeps them).
 * Also: which objects lack a mask on a frame, for the notice under the video.
 */
import { countsArea } from '../../../engine/src/mask/rle.js';
import type { PromptInfo } from '../../../engine/src/protocol.js';

export interface FramePrompt {
  objectId: number;
  frame: number;
  points: { x: number; y: number; label: 0 | 1 }[];
  box?: [number, number, number, number];
}

export function promptMapOf(list: readonly PromptInfo[]): Map<string, FramePrompt> {
  const out = new Map<string, FramePrompt>();
  for (const p of list) {
    if (p.kind === 'mask') continue;
    const key = `${p.objectId}:${p.frame}`;
    let fp = out.get(key);
    // A box starts its frame's prompt afresh (the server's addBox clears earlier clicks there).
    if (!fp || p.box) out.set(key, (fp = { objectId: p.objectId, frame: p.frame, points: [] }));
    if (p.box) fp.box = [...p.box];
    for (const q of p.points) fp.points.push({ x: q.x, y: q.y, label: q.label === 0 ? 0 : 1 });
  }
  return out;
}

/** Foreground pixels of COCO counts (the odd runs): the engine codec's own count. */
export { countsArea };

/**
 * The notice for frame f: objects (visible ones) whose mask there came back empty, e.g.
 * "no mask for object 2 on frame 14"; null when every mask on the frame has pixels.
 */
export function emptyMaskNotice(frame: number, masks: ReadonlyMap<number, { counts: ArrayLike<number> }> | undefined, hidden: ReadonlySet<number>): string | null {
  if (!masks) return null;
  const ids = [...masks]
    .filter(([id, m]) => !hidden.has(id) && countsArea(m.counts) === 0)
    .map(([id]) => id)
    .sort((a, b) => a - b);
  if (!ids.length) return null;
  return `no mask for object${ids.length > 1 ? 's' : ''} ${ids.join(', ')} on frame ${frame}`;
}
