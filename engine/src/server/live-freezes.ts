/**
 * Frozen live frames: a viewer that froze its picture (`freezeLive`) annotates that frame while the
 * source goes on being tracked. The frame is pinned in the tracker (its picture copied; see
 * StreamTracker.pin) so a prompt naming it is applied there even after it left the hold window,
 * and the held frames after it are tracked again, as for any held-frame correction.
 *
 * Bounded: one frozen frame per viewer (freezing again replaces it), so memory grows with the
 * viewers watching, not with time — one model-size picture each (3 MB at 1024 px; image features
 * are encoded again on the first prompt rather than kept, 16 MB saved per frozen viewer). Two
 * viewers frozen on the same frame share its pin. A viewer's frame is released on `unfreezeLive`,
 * on closing its session or losing its connection, and all of them when the run ends.
 *
 * The pipeline calls these inside its exclusive chain (between two tracked frames), so a pin never
 * changes under a running prompt.
 */
import type { StreamTracker } from '../track/stream-tracker.js';

/** A live frame by index and PTS (the pipeline's held-frame entry). */
export interface FrameAt {
  frame: number;
  ptsUs: number;
}

export class LiveFreezes {
  private readonly byViewer = new Map<string, FrameAt>();

  /** Viewers frozen now. */
  get size(): number {
    return this.byViewer.size;
  }

  /** The frozen frame `frame` when some viewer holds it. */
  find(frame: number): FrameAt | undefined {
    for (const f of this.byViewer.values()) if (f.frame === frame) return f;
    return undefined;
  }

  /** The frame a viewer has frozen, if any. */
  of(sessionId: string): FrameAt | undefined {
    return this.byViewer.get(sessionId);
  }

  /**
   * Freezes a viewer on `wanted` when the tracker can still keep it (held now, or already frozen
   * by someone), else on `newest`; returns the frame frozen. The viewer's earlier frame is released.
   */
  freeze(tracker: StreamTracker, sessionId: string, wanted: FrameAt | undefined, newest: FrameAt): FrameAt {
    const at = wanted && tracker.pin(wanted.frame) ? wanted : newest;
    // `newest` is held by definition (the tracker's last pushed frame): its pin cannot fail.
    if (at === newest) tracker.pin(newest.frame);
    const old = this.byViewer.get(sessionId);
    this.byViewer.set(sessionId, at);
    if (old && old.frame !== at.frame) this.unpinIfUnused(tracker, old.frame);
    return at;
  }

  /** Releases a viewer's frozen frame (no-op when it has none). */
  release(tracker: StreamTracker | null, sessionId: string): void {
    const old = this.byViewer.get(sessionId);
    if (!old) return;
    this.byViewer.delete(sessionId);
    if (tracker) this.unpinIfUnused(tracker, old.frame);
  }

  /** Forgets every frozen frame (the run ended; its tracker goes with it). */
  clear(): void {
    this.byViewer.clear();
  }

  private unpinIfUnused(tracker: StreamTracker, frame: number): void {
    if (!this.find(frame)) tracker.unpin(frame);
  }
}
