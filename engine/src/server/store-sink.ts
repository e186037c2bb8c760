/**
 * An {@link AnnotationSink} over the SQLite {@link SessionStore}: every prompt and mask is
 * committed before the server sends it on (the store's writes return after COMMIT). A recorded
 * session is stored against its clip file; a live source, which has no file and no length, is
 * stored against a pseudo clip of its own (content hash `live:<session id>`) whose frame count
 * grows with the frames stored, frame numbers being the source's decoded frame indices.
 */
import { CinesegError, isCinesegError, ErrorCode } from '../errors.js';
import { registerClipFile } from '../store/register-clip.js';
import { hashFile, type PromptInput, type SessionStore } from '../store/session-store.js';
import type { AnnotationSink, SinkMask, SinkPrompt, SinkSession, SinkSupport, SupportSource } from './annotation-sink.js';

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

  /**
   * Any stored session (this server's or a CLI's, open or closed) whose clip is a file that
   * still holds the stored bytes: masks laid on other pixels would make wrong memories silently.
   */
  async supportSource(sessionId: string): Promise<SupportSource> {
    const session = this.store.requireSession(sessionId);
    const clip = this.store.getClip(session.clipId)!;
    if (clip.contentHash.startsWith('live:')) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `session "${sessionId}" is live: support needs a recorded clip`);
    if ((await hashFile(clip.path)) !== clip.contentHash) {
      throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `the clip of session "${sessionId}" is no longer at ${clip.path} (the file there has other bytes)`);
    }
    return { clip: clip.path, masks: this.store.toVisJson(sessionId), promptVersion: session.promptVersion };
  }

  /** Kept in session meta `support` (no schema change: it is a fact about the session, not a prompt of one frame). */
  async setSupport(sessionId: string, support: readonly SinkSupport[]): Promise<void> {
    if (!this.sizes.has(sessionId)) return;
    this.store.updateSessionMeta(sessionId, { support });
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
    // An object with support only gets its row from its first masks: a name given before waits for them.
    for (const id of new Set(masks.map((m) => m.objectId))) {
      const label = this.pendingLabels.get(`${sessionId}:${id}`);
      if (label === undefined) continue;
      this.pendingLabels.delete(`${sessionId}:${id}`);
      this.store.addObject(sessionId, id, label);
    }
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
