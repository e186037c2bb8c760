/**
 * An {@link AnnotationSink} over the SQLite {@link SessionStore}: every prompt and mask of a
 * recorded session is committed before the server sends it on (the store's writes return after
 * COMMIT). Live sessions have no clip file with a frame count to register, so only recorded
 * sessions are stored.
 */
import { isCinesegError, ErrorCode } from '../errors.js';
import { registerClipFile } from '../store/register-clip.js';
import type { PromptInput, SessionStore } from '../store/session-store.js';
import type { AnnotationSink, SinkMask, SinkPrompt, SinkSession } from './annotation-sink.js';

export class StoreSink implements AnnotationSink {
  private readonly sizes = new Map<string, [number, number]>();

  /** `owned`: destroy() closes the store. */
  constructor(
    readonly store: SessionStore,
    private readonly owned = false,
  ) {}

  async startSession(s: SinkSession): Promise<void> {
    if (s.kind !== 'recorded' || s.numFrames === null) return;
    const clip = await registerClipFile(this.store, s.source);
    this.store.createSession(clip.id, { id: s.sessionId, meta: { tool: 'cineseg serve' } });
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
  }

  async putMasks(sessionId: string, masks: readonly SinkMask[]): Promise<void> {
    const size = this.sizes.get(sessionId);
    if (!size) return;
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
    this.store.setSessionStatus(sessionId, 'closed');
  }

  async destroy(): Promise<void> {
    this.sizes.clear();
    if (this.owned) this.store.destroy();
  }
}
