/**
 * The binary messages of the page's session, apart from App: masks (recorded: kept per frame and
 * object for the overlay and timeline; live: handed to the live view, and an object another
 * viewer made joins the list), live pictures and live frames. Messages of another session's
 * handle are dropped: after a switch the old session's last masks may still be on their way.
 */
import { binaryKind, decodeLiveFrame, decodeLivePicture, decodeMaskFrame, type LiveFrame, type LivePicture, type MaskFrame, type SessionStarted } from '../../../engine/src/protocol.js';
import { countsArea } from '../../../engine/src/mask/rle.js';
import { hooks } from '../test-hooks.js';
import type { ObjectMask } from './paint.js';

/**
 * What the inbox hands live messages to: the live view's handle. Declared here, by the side that
 * calls it, so overlay/ does not import video/ (video/ imports overlay/ to paint).
 */
export interface LiveFrameTarget {
  onPicture(p: LivePicture): void;
  onMask(m: MaskFrame & { counts: Uint32Array }): void;
  onFrame(f: LiveFrame): void;
}

export interface MaskInbox {
  masks: Map<number, Map<number, ObjectMask>>;
  /** Objects with a mask in this live session. */
  liveKnown: Set<number>;
  liveView: LiveFrameTarget | null;
  ensureObject(id: number): void;
  scheduleMaskRender(): void;
}

export function onSessionBinary(data: ArrayBuffer, s: SessionStarted | null, d: MaskInbox): void {
  const kind = binaryKind(data);
  if (kind === 'mask') {
    const m = decodeMaskFrame(data);
    if (!s || m.handle !== s.handle) return;
    hooks.masksReceived++;
    if (s.kind === 'live') {
      if (!d.liveKnown.has(m.objectId)) {
        d.liveKnown.add(m.objectId);
        d.ensureObject(m.objectId);
      }
      d.liveView?.onMask(m);
      return;
    }
    let f = d.masks.get(m.frame);
    if (!f) d.masks.set(m.frame, (f = new Map()));
    const stability = (m as { stability?: number }).stability;
    f.set(m.objectId, { objectId: m.objectId, counts: m.counts, score: m.score, ...(stability === undefined ? {} : { stability }) } as ObjectMask);
    d.scheduleMaskRender();
  } else if (kind === 'picture') {
    const pic = decodeLivePicture(data);
    if (s && pic.handle === s.handle) d.liveView?.onPicture(pic);
  } else if (kind === 'frame') {
    const f = decodeLiveFrame(data);
    if (s && f.handle === s.handle) d.liveView?.onFrame(f);
  }
}

/** What the test hook `masksHeld` reports: each held mask's object, frame, area and run count. */
export function heldMasks(masks: ReadonlyMap<number, ReadonlyMap<number, ObjectMask>>): { objectId: number; frame: number; area: number; runs: number }[] {
  const out: { objectId: number; frame: number; area: number; runs: number }[] = [];
  for (const [frame, f] of masks) {
    for (const m of f.values()) out.push({ objectId: m.objectId, frame, area: countsArea(m.counts), runs: m.counts.length });
  }
  return out;
}
