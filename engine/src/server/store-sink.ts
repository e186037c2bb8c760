/**
 * An {@link AnnotationSink} over the SQLite {@link SessionStore}: every prompt and mask is
 * committed before the server sends it on (the store's writes return after COMMIT). A recorded
 * session is stored against its clip file; a live source, which has no file and no length, is
 * stored against a pseudo clip of its own (content hash `live:<session id>`) whose frame count
 * grows with the frames stored, frame numbers being the source's decoded frame indices.
 */
import { isCinesegError, ErrorCode } from '../errors.js';
import { registerClipFile } from '../store/register-clip.js';
import type { PromptInput, SessionStore } from '../store/session-store.js';
import type { AnnotationSink, SinkMask, SinkPrompt, SinkSession } from './annotation-sink.js';

export class StoreSink implements AnnotationSink {
  private readonly sizes = new Map<string, [number, number]>();
  /** Live sessions: their pseudo clip and the frame count stored so far. */
  private readonly live = new Map<string, { clipId: number; frames: number }>();
  /** Names given to objects that have no row yet (no prompt): written with their first prompt. */
  private readonly pendingLabels = new Map<string, string>();

  /** `owned`: destroy() closes the store. */
  constructor(
    readonly store: SessionStore,
    private readonly owned = false,
  ) {}

  async startSession(s: SinkSession): Promise<void> {
    if (s.kind === 'live') {
      const clip = this.store.upsertClip({ path: withoutCredentials(s.source), contentHash: `live:${s.sessionId}`, width: s.width, height: s.height, numFrames: 0, fps: s.fps });
      this.store.createSession(clip.id, { id: s.sessionId, meta: { tool: 'cineseg serve', live: true } });
      this.live.set(s.sessionId, { clipId: clip.id, frames: 0 });
    } else {
      if (s.numFrames === null) return;
      const clip = await registerClipFile(this.store, s.source);
      this.store.createSession(clip.id, { id: s.sessionId, meta: { tool: 'cineseg serve' } });
    }
    this.sizes.set(s.sessionId, [s.height, s.width]);
  }

  async putPrompt(sessionId: string, p: SinkPrompt): Promise<void> {
    const size = this.sizes.get(sessionId);
    if (!size) return;
    let input: PromptInput;
    if (p.kind === 'points') input = { kind: 'points', objectId: p.objectId, frame: p.frame, points: p.points, clearOld: p.clearOld };
    else if (p.kind === 'box') input = { kind: 'box', objectId: p.objectId, frame: p.frame, box: p.box, points: p.points };
    else input = { kind: 'mask', objectId: p.objectId, frame: p.frame, mask: { size, counts: p.counts } };
    this.store.addPrompt(sessionId, input);
    const key = `${sessionId}:${p.objectId}`;
    const label = this.pendingLabels.get(key);
    if (label !== undefined) {
      this.pendingLabels.delete(key);
      this.store.addObject(sessionId, p.objectId, label);
    }
  }

  async labelObject(sessionId: string, objectId: number, label: string): Promise<void> {
    if (!this.sizes.has(sessionId)) return;
    // An object without a prompt has no row; one made now would be an empty object in exports.
    if (this.store.listObjects(sessionId).some((o) => o.objectId === objectId)) this.store.addObject(sessionId, objectId, label);
    else this.pendingLabels.set(`${sessionId}:${objectId}`, label);
  }

  async putMasks(sessionId: string, masks: readonly SinkMask[]): Promise<void> {
    const size = this.sizes.get(sessionId);
    if (!size || masks.length === 0) return;
    const live = this.live.get(sessionId);
    if (live) {
      const end = Math.max(...masks.map((m) => m.frame)) + 1;
      if (end > live.frames) {
        this.store.growClip(live.clipId, end);
        live.frames = end;
      }
    }
    this.store.putMasks(
      sessionId,
      masks.map((m) => ({
        objectId: m.objectId,
        frame: m.frame,
        rle: { size, counts: [...m.counts] },
        // The store keeps a presence probability; the tracker gives a logit.
        score: 1 / (1 + Math.exp(-m.score)),
        origin: m.origin,
      })),
    );
  }

  async removeObject(sessionId: string, objectId: number): Promise<void> {
    if (!this.sizes.has(sessionId)) return;
    try {
      this.store.removeObject(sessionId, objectId);
    } catch (e) {
      if (!isCinesegError(e, ErrorCode.E_OBJECT_UNKNOWN)) throw e;
    }
  }

  async closeSession(sessionId: string): Promise<void> {
    if (!this.sizes.has(sessionId)) return;
    this.sizes.delete(sessionId);
    this.live.delete(sessionId);
    for (const k of this.pendingLabels.keys()) if (k.startsWith(`${sessionId}:`)) this.pendingLabels.delete(k);
    this.store.setSessionStatus(sessionId, 'closed');
  }

  async destroy(): Promise<void> {
    this.sizes.clear();
    this.live.clear();
    this.pendingLabels.clear();
    if (this.owned) this.store.destroy();
  }
}

/** A live URL as it may be stored: user and password left out (rtsp://user:pass@camera/…). */
function withoutCredentials(source: string): string {
  try {
    const u = new URL(source);
    if (!u.username && !u.password) return source;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return source;
  }
}
