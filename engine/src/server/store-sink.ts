/**
 * An {@link AnnotationSink} over the SQLite {@link SessionStore}: every prompt and mask is
 * committed before the server sends it on (the store's writes return after COMMIT). A recorded
 * session is stored against its clip file; a live source, which has no file and no length, is
 * stored against a pseudo clip of its own (content hash `live:<session id>`) whose frame count
 * grows with the frames stored, frame numbers being the source's decoded frame indices.
 *
 * Nothing is dropped silently: a write that does not commit (store locked by another process,
 * read-only, disk full) rejects with E_STORE_WRITE, and so does a write for a session whose
 * record never started (its start failed): the request that made it gets an error, not an ack.
 */
import { CinesegError, isCinesegError, ErrorCode } from '../errors.js';
import { stringToCounts } from '../mask/rle.js';
import { hashClip, registerClipFile } from '../store/register-clip.js';
import type { PromptInput, SessionStore } from '../store/session-store.js';
import type { AnnotationSink, SinkMask, SinkPrompt, SinkSession, SinkSupport, StoredMask, SupportSource } from './annotation-sink.js';
import { storeEditLog, type EditLog } from './prompt-history.js';

/**
 * Runs a store write; what it throws becomes E_STORE_WRITE, except the codes that say the request
 * itself was wrong (an unknown object or session, a bad mask): those stay as they are.
 */
async function write<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isCinesegError(e) && e.code !== ErrorCode.E_STORE && e.code !== ErrorCode.E_INTERNAL) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new CinesegError(ErrorCode.E_STORE_WRITE, `storing ${what} failed, nothing of it was acknowledged: ${why}`, { cause: e });
  }
}

export class StoreSink implements AnnotationSink {
  private readonly sizes = new Map<string, [number, number]>();
  /** Live sessions: their pseudo clip and the frame count stored so far. */
  private readonly live = new Map<string, { clipId: number; frames: number }>();
  /** Names given to objects that have no row yet (no prompt): written with their first prompt. */
  private readonly pendingLabels = new Map<string, string>();
  /** Recorded sessions whose record is being made (the clip hashed, see startSession). */
  private readonly starting = new Map<string, Promise<void>>();
  /** Why a session's record could not be made (the writes' error says it). */
  private readonly failedStarts = new Map<string, string>();

  /** Undo / redo and the prompts taken back, in the store (store/prompt-history-store.ts). */
  readonly edits: EditLog;

  /** `owned`: destroy() closes the store. */
  constructor(
    readonly store: SessionStore,
    private readonly owned = false,
  ) {
    this.edits = storeEditLog(store);
  }

  async startSession(s: SinkSession): Promise<void> {
    if (s.kind === 'live') {
      await write('the live record', () => {
        const clip = this.store.upsertClip({ path: withoutCredentials(s.source), contentHash: `live:${s.sessionId}`, width: s.width, height: s.height, numFrames: 0, fps: s.fps });
        // A start tried again after a failure may find its session made by the first try.
        if (!this.store.getSession(s.sessionId)) this.store.createSession(clip.id, { id: s.sessionId, meta: { tool: 'cineseg serve', live: true } });
        this.live.set(s.sessionId, { clipId: clip.id, frames: 0 });
      });
      this.sizes.set(s.sessionId, [s.height, s.width]);
    } else {
      if (s.numFrames === null) return;
      // The store knows a clip by the hash of its bytes, and an hour of video takes seconds to
      // read: the record is made in the background so the session's first frame shows at once.
      // Every write waits for it (ready()), so nothing is acknowledged before its record exists;
      // a record that cannot be made turns those writes into E_STORE_WRITE errors.
      const meta = { tool: 'cineseg serve', ...(s.meta ?? {}) };
      const starting = (async () => {
        const clip = await registerClipFile(this.store, s.source);
        await write('the session', () => this.store.createSession(clip.id, { id: s.sessionId, meta }));
        this.sizes.set(s.sessionId, [s.height, s.width]);
      })();
      this.starting.set(s.sessionId, starting);
      starting.then(
        () => this.starting.delete(s.sessionId),
        (e: unknown) => this.failedStarts.set(s.sessionId, e instanceof Error ? e.message : String(e)),
      );
    }
  }

  /** Resolves once the session's record is in the store (made in the background by startSession). */
  async recordReady(sessionId: string): Promise<void> {
    const starting = this.starting.get(sessionId);
    if (starting) await starting.catch(() => undefined);
  }

  /**
   * Takes a stored recorded session up again (openSession, session-restore.ts): marked 'open', and
   * its writes are accepted again. @throws CinesegError E_SESSION_UNKNOWN, E_STORE_WRITE
   */
  async resumeSession(sessionId: string): Promise<void> {
    const session = this.store.requireSession(sessionId);
    const clip = this.store.getClip(session.clipId)!;
    await write('the reopened session', () => this.store.setSessionStatus(sessionId, 'open'));
    this.sizes.set(sessionId, [clip.height, clip.width]);
  }

  /** The session's [height, width], once its record exists. @throws CinesegError E_STORE_WRITE when its record never started */
  private async started(sessionId: string, what: string): Promise<[number, number]> {
    await this.recordReady(sessionId);
    const size = this.sizes.get(sessionId);
    if (!size) {
      const why = this.failedStarts.get(sessionId);
      throw new CinesegError(ErrorCode.E_STORE_WRITE, `storing ${what} failed: session "${sessionId}" has no record in the store (starting it failed${why ? `: ${why}` : ''})`);
    }
    return size;
  }

  async putPrompt(sessionId: string, p: SinkPrompt): Promise<number> {
    const size = await this.started(sessionId, 'a prompt');
    let input: PromptInput;
    if (p.kind === 'points') input = { kind: 'points', objectId: p.objectId, frame: p.frame, points: p.points, clearOld: p.clearOld };
    else if (p.kind === 'box') input = { kind: 'box', objectId: p.objectId, frame: p.frame, box: p.box, points: p.points };
    else input = { kind: 'mask', objectId: p.objectId, frame: p.frame, mask: { size, counts: p.counts } };
    const rec = await write('a prompt', () => this.store.addPrompt(sessionId, input));
    const key = `${sessionId}:${p.objectId}`;
    const label = this.pendingLabels.get(key);
    if (label !== undefined) {
      await write('an object name', () => this.store.addObject(sessionId, p.objectId, label));
      this.pendingLabels.delete(key);
    }
    return rec.id;
  }

  /** The session's removal mark of the object before a removal (meta `removals`; null: none). */
  async removalMark(sessionId: string, objectId: number): Promise<unknown> {
    await this.started(sessionId, 'a removal');
    const removals = (this.store.requireSession(sessionId).meta.removals ?? {}) as Record<string, number>;
    return removals[objectId] ?? null;
  }

  /** Undo of removeObject: the row in effect again, labelled, and meta `removals` as it was before. */
  async reviveObject(sessionId: string, objectId: number, label: string, mark: unknown): Promise<void> {
    await this.started(sessionId, 'an object brought back');
    await write('an object brought back', () =>
      this.store.atomic(() => {
        const s = this.store.requireSession(sessionId);
        this.store.addObject(sessionId, objectId, label);
        this.store.history.setLabel(sessionId, objectId, label);
        const removals = { ...((s.meta.removals ?? {}) as Record<string, number>) };
        if (typeof mark === 'number') removals[objectId] = mark;
        else delete removals[objectId];
        this.store.updateSessionMeta(sessionId, { removals });
      }),
    );
  }

  async labelObject(sessionId: string, objectId: number, label: string): Promise<void> {
    await this.started(sessionId, 'an object name');
    // An object without a prompt has no row; one made now would be an empty object in exports.
    // Set as given ('object' too: an undone first name); addObject would keep a name over 'object'.
    if (this.store.listObjects(sessionId).some((o) => o.objectId === objectId)) await write('an object name', () => this.store.history.setLabel(sessionId, objectId, label));
    else this.pendingLabels.set(`${sessionId}:${objectId}`, label);
  }

  /**
   * Any stored session (this server's or a CLI's, open or closed) whose clip is a file that
   * still holds the stored bytes: masks laid on other pixels would make wrong memories silently.
   */
  async supportSource(sessionId: string): Promise<SupportSource> {
    await this.recordReady(sessionId);
    const session = this.store.requireSession(sessionId);
    const clip = this.store.getClip(session.clipId)!;
    if (clip.contentHash.startsWith('live:')) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `session "${sessionId}" is live: support needs a recorded clip`);
    if ((await hashClip(clip.path)) !== clip.contentHash) {
      throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `the clip of session "${sessionId}" is no longer at ${clip.path} (the file there has other bytes)`);
    }
    return { clip: clip.path, masks: this.store.toVisJson(sessionId), promptVersion: session.promptVersion };
  }

  /** Kept in session meta `support` (no schema change: it is a fact about the session, not a prompt of one frame). */
  async setSupport(sessionId: string, support: readonly SinkSupport[]): Promise<void> {
    await this.started(sessionId, 'support');
    await write('support', () => this.store.updateSessionMeta(sessionId, { support }));
  }

  async currentMasks(sessionId: string): Promise<StoredMask[]> {
    await this.recordReady(sessionId);
    if (!this.store.getSession(sessionId)) return [];
    return this.store.currentMasks(sessionId).map((m) => ({
      objectId: m.objectId,
      frame: m.frame,
      // Back to the tracker's logit (the store keeps the probability), clamped off 0 and 1.
      score: m.score === null ? 0 : Math.log(Math.min(Math.max(m.score, 1e-7), 1 - 1e-7) / (1 - Math.min(Math.max(m.score, 1e-7), 1 - 1e-7))),
      counts: stringToCounts(m.rle.counts),
    }));
  }

  async putMasks(sessionId: string, masks: readonly SinkMask[]): Promise<void> {
    const size = await this.started(sessionId, 'masks');
    if (masks.length === 0) return;
    const live = this.live.get(sessionId);
    if (live) {
      const end = Math.max(...masks.map((m) => m.frame)) + 1;
      if (end > live.frames) {
        await write('masks', () => this.store.growClip(live.clipId, end));
        live.frames = end;
      }
    }
    await write(`${masks.length} mask(s)`, () => this.store.putMasks(
      sessionId,
      masks.map((m) => ({
        objectId: m.objectId,
        frame: m.frame,
        rle: { size, counts: [...m.counts] },
        // The store keeps a presence probability; the tracker gives a logit.
        score: 1 / (1 + Math.exp(-m.score)),
        origin: m.origin,
      })),
    ));
    // An object with support only gets its row from its first masks: a name given before waits for them.
    for (const id of new Set(masks.map((m) => m.objectId))) {
      const label = this.pendingLabels.get(`${sessionId}:${id}`);
      if (label === undefined) continue;
      await write('an object name', () => this.store.addObject(sessionId, id, label));
      this.pendingLabels.delete(`${sessionId}:${id}`);
    }
  }

  async removeObject(sessionId: string, objectId: number): Promise<void> {
    await this.started(sessionId, 'a removal');
    try {
      await write('a removal', () => this.store.removeObject(sessionId, objectId));
    } catch (e) {
      if (!isCinesegError(e, ErrorCode.E_OBJECT_UNKNOWN)) throw e;
    }
  }

  async closeSession(sessionId: string): Promise<void> {
    await this.recordReady(sessionId);
    this.failedStarts.delete(sessionId);
    if (!this.sizes.has(sessionId)) return;
    this.sizes.delete(sessionId);
    this.live.delete(sessionId);
    for (const k of this.pendingLabels.keys()) if (k.startsWith(`${sessionId}:`)) this.pendingLabels.delete(k);
    await write('the session close', () => this.store.setSessionStatus(sessionId, 'closed'));
  }

  async destroy(): Promise<void> {
    // A record still being made would write into a closed store.
    await Promise.all([...this.starting.values()].map((p) => p.catch(() => undefined)));
    this.failedStarts.clear();
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
