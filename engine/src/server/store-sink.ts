/**
 * An {@link AnnotationSink} over the store ({@link AnnotationStore}: SQLite, or PostgreSQL shared
 * with other servers): every prompt and mask is committed before the server sends it on (the
 * store's writes resolve after COMMIT). A recorded session is stored against its clip file; a
 * live source, which has no file and no length, is stored against a pseudo clip of its own
 * (content hash `live:<session id>`) whose frame count grows with the frames stored, frame
 * numbers being the source's decoded frame indices.
 *
 * Nothing is dropped silently: a write that does not commit (store locked by another process,
 * read-only, disk full, database gone) rejects with E_STORE_WRITE, and so does a write for a
 * session whose record never started (its start failed): the request that made it gets an error,
 * not an ack.
 *
 * Concurrent editors (several servers on one PostgreSQL, or on one SQLite file): the sink keeps,
 * per session, the version of each object as it last read or wrote it, and every write passes
 * them as `ifVersions`. An object another server changed since is E_EDIT_CONFLICT for the client
 * (never a silent overwrite, never turned into E_STORE_WRITE). A sink's own writes of a session
 * run one after another (a promise chain), so they never conflict with each other.
 */
import { CinesegError, isCinesegError, ErrorCode } from '../errors.js';
import { stringToCounts } from '../mask/rle.js';
import type { AnnotationStore, EditOptions } from '../store/annotation-store.js';
import { asAnnotationStore } from '../store/open-store.js';
import { hashClip, registerClipFile } from '../store/register-clip.js';
import { SessionStore, type PromptInput } from '../store/session-store.js';
import type { AnnotationSink, SinkMask, SinkPrompt, SinkSession, SinkSupport, StoredMask, SupportSource } from './annotation-sink.js';
import { HEARTBEAT_MS, newOwner, releaseOwner, type SessionOwner } from './session-owner.js';
import { storeEditLog, type EditLog } from './prompt-history.js';

/**
 * Runs a store write; what it throws becomes E_STORE_WRITE, except the codes that say the request
 * itself was wrong (an unknown object or session, a bad mask) or that another editor came first
 * (E_EDIT_CONFLICT): those stay as they are.
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
  readonly store: AnnotationStore;
  private readonly sizes = new Map<string, [number, number]>();
  /** Live sessions: their pseudo clip and the frame count stored so far. */
  private readonly live = new Map<string, { clipId: number; frames: number }>();
  /** Names given to objects that have no row yet (no prompt): written with their first prompt. */
  private readonly pendingLabels = new Map<string, string>();
  /** Recorded sessions whose record is being made (the clip hashed, see startSession). */
  private readonly starting = new Map<string, Promise<void>>();
  /** Why a session's record could not be made (the writes' error says it). */
  private readonly failedStarts = new Map<string, string>();
  /** Per session, each object's version as this sink last read or wrote it (see the module comment). */
  private readonly versions = new Map<string, Record<number, number>>();
  /** Per session, the end of its chain of writes: the next one starts after it settles. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** A SessionStore given with `owned`: closed by destroy() (the wrapper around it is not its owner). */
  private readonly ownedSync: SessionStore | null;

  /** Undo / redo and the prompts taken back, in the store (store/prompt-history-store.ts). */
  readonly edits: EditLog;
  /** This server as the owner of the sessions it opens (session-owner.ts), and its heartbeat. */
  private readonly owner: Omit<SessionOwner, 'heartbeatAt'>;
  private readonly heartbeat: NodeJS.Timeout | null;

  /** `owned`: destroy() closes the store. A SessionStore is used through SqliteStore.wrap. */
  constructor(
    store: SessionStore | AnnotationStore,
    private readonly owned = false,
  ) {
    this.store = asAnnotationStore(store);
    this.ownedSync = owned && store instanceof SessionStore ? store : null;
    this.edits = storeEditLog(this.store);
    // Heartbeats only where other machines share the store (session-owner.ts says why).
    const beats = this.store.kind === 'postgres';
    this.owner = newOwner(beats);
    this.heartbeat = beats ? setInterval(() => void this.beat(), HEARTBEAT_MS) : null;
    this.heartbeat?.unref();
  }

  /** meta `server` as written now: this server, with a fresh heartbeat. */
  private ownerMeta(): { server: SessionOwner } {
    return { server: { ...this.owner, heartbeatAt: new Date().toISOString() } };
  }

  /**
   * Refreshes the heartbeat of every session this server holds. A failed refresh is not an error of
   * any request (nothing is acknowledged by it): the next one tries again, and other servers only
   * take the sessions over after OWNER_STALE_MS (session-owner.ts) without one.
   */
  private async beat(): Promise<void> {
    for (const id of [...this.sizes.keys()]) {
      await this.store.updateSessionMeta(id, this.ownerMeta()).catch(() => undefined);
    }
  }

  async startSession(s: SinkSession): Promise<void> {
    if (s.kind === 'live') {
      await write('the live record', async () => {
        const clip = await this.store.upsertClip({ path: withoutCredentials(s.source), contentHash: `live:${s.sessionId}`, width: s.width, height: s.height, numFrames: 0, fps: s.fps });
        // A start tried again after a failure may find its session made by the first try.
        if (!(await this.store.getSession(s.sessionId))) await this.store.createSession(clip.id, { id: s.sessionId, meta: { tool: 'cineseg serve', live: true, ...this.ownerMeta() } });
        this.live.set(s.sessionId, { clipId: clip.id, frames: 0 });
        this.versions.set(s.sessionId, await this.store.objectVersions(s.sessionId));
      });
      this.sizes.set(s.sessionId, [s.height, s.width]);
    } else {
      if (s.numFrames === null) return;
      // The store knows a clip by the hash of its bytes, and an hour of video takes seconds to
      // read: the record is made in the background so the session's first frame shows at once.
      // Every write waits for it (ready()), so nothing is acknowledged before its record exists;
      // a record that cannot be made turns those writes into E_STORE_WRITE errors.
      const meta = { tool: 'cineseg serve', ...(s.meta ?? {}), ...this.ownerMeta() };
      const starting = (async () => {
        const clip = await write('the clip', () => registerClipFile(this.store, s.source));
        await write('the session', () => this.store.createSession(clip.id, { id: s.sessionId, meta }));
        this.versions.set(s.sessionId, {});
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
   * Takes a stored recorded session up again (openSession, session-restore.ts): marked 'open', its
   * objects' versions read, and its writes accepted again. @throws CinesegError E_SESSION_UNKNOWN, E_STORE_WRITE
   */
  async resumeSession(sessionId: string): Promise<void> {
    const session = await this.store.requireSession(sessionId);
    const clip = (await this.store.getClip(session.clipId))!;
    await this.serial(sessionId, async () => {
      await write('the reopened session', () =>
        this.store.transaction(async (tx) => {
          await tx.updateSessionMeta(sessionId, this.ownerMeta());
          await tx.setSessionStatus(sessionId, 'open');
        }),
      );
      this.versions.set(sessionId, await this.store.objectVersions(sessionId));
    });
    this.sizes.set(sessionId, [clip.height, clip.width]);
  }

  /** The versions this sink knows of a session's objects (a copy; tests and diagnostics). */
  knownVersions(sessionId: string): Record<number, number> {
    return { ...(this.versions.get(sessionId) ?? {}) };
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

  /**
   * Runs the session's writes one after another (in call order), each with the versions known
   * when it starts. After E_EDIT_CONFLICT the session's versions are read again, so that the
   * user — who sees the error on the edit that was refused (nothing of it stored, the other
   * editor's change kept) — can make the edit again, and it goes through over what is stored now.
   */
  private serial<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.chains.get(sessionId) ?? Promise.resolve()).then(async () => {
      try {
        return await fn();
      } catch (e) {
        if (isCinesegError(e, ErrorCode.E_EDIT_CONFLICT)) {
          const fresh = await this.store.objectVersions(sessionId).catch(() => null);
          if (fresh) this.versions.set(sessionId, fresh);
        }
        throw e;
      }
    });
    const tail = run.catch(() => undefined);
    this.chains.set(sessionId, tail);
    // The chain of a quiet session is dropped, so the map does not grow with every session seen.
    void tail.then(() => {
      if (this.chains.get(sessionId) === tail) this.chains.delete(sessionId);
    });
    return run;
  }

  /** The edit options of a write to the session now. */
  private check(sessionId: string): EditOptions {
    const known = this.versions.get(sessionId);
    return known ? { ifVersions: { ...known } } : {};
  }

  /**
   * After a write that touched `objectIds`: one more for each object known, the stored version
   * for one not known yet (read back; another writer in between would be missed once, then
   * caught by the next write).
   */
  private async touched(sessionId: string, objectIds: Iterable<number>): Promise<void> {
    const known = this.versions.get(sessionId) ?? {};
    this.versions.set(sessionId, known);
    const unknown: number[] = [];
    for (const id of new Set(objectIds)) {
      if (known[id] === undefined) unknown.push(id);
      else known[id] += 1;
    }
    if (unknown.length === 0) return;
    const stored = await this.store.objectVersions(sessionId);
    for (const id of unknown) if (stored[id] !== undefined) known[id] = stored[id];
  }

  /** Sets what a write that returns an object's record says its version is. */
  private setVersion(sessionId: string, objectId: number, version: number): void {
    const known = this.versions.get(sessionId) ?? {};
    known[objectId] = version;
    this.versions.set(sessionId, known);
  }

  async putPrompt(sessionId: string, p: SinkPrompt): Promise<number> {
    const size = await this.started(sessionId, 'a prompt');
    let input: PromptInput;
    if (p.kind === 'points') input = { kind: 'points', objectId: p.objectId, frame: p.frame, points: p.points, clearOld: p.clearOld };
    else if (p.kind === 'box') input = { kind: 'box', objectId: p.objectId, frame: p.frame, box: p.box, points: p.points };
    else input = { kind: 'mask', objectId: p.objectId, frame: p.frame, mask: { size, counts: p.counts } };
    return this.serial(sessionId, async () => {
      const rec = await write('a prompt', () => this.store.addPrompt(sessionId, input, this.check(sessionId)));
      await this.touched(sessionId, [p.objectId]);
      const key = `${sessionId}:${p.objectId}`;
      const label = this.pendingLabels.get(key);
      if (label !== undefined) {
        const o = await write('an object name', () => this.store.addObject(sessionId, p.objectId, label, this.check(sessionId)));
        this.setVersion(sessionId, p.objectId, o.version);
        this.pendingLabels.delete(key);
      }
      return rec.id;
    });
  }

  /** The session's removal mark of the object before a removal (meta `removals`; null: none). */
  async removalMark(sessionId: string, objectId: number): Promise<unknown> {
    await this.started(sessionId, 'a removal');
    const removals = ((await this.store.requireSession(sessionId)).meta.removals ?? {}) as Record<string, number>;
    return removals[objectId] ?? null;
  }

  /** Undo of removeObject: the row in effect again, labelled, and meta `removals` as it was before. */
  async reviveObject(sessionId: string, objectId: number, label: string, mark: unknown): Promise<void> {
    await this.started(sessionId, 'an object brought back');
    await this.serial(sessionId, async () => {
      const opts = this.check(sessionId);
      await write('an object brought back', () =>
        this.store.transaction(async (tx) => {
          const s = await tx.requireSession(sessionId);
          const o = await tx.addObject(sessionId, objectId, label, opts);
          // addObject has bumped it (or left it as it was): the label is set at the version it has now.
          await tx.history.setLabel(sessionId, objectId, label, { ifVersions: { [objectId]: o.version } });
          const removals = { ...((s.meta.removals ?? {}) as Record<string, number>) };
          if (typeof mark === 'number') removals[objectId] = mark;
          else delete removals[objectId];
          await tx.updateSessionMeta(sessionId, { removals });
        }),
      );
      const stored = await this.store.objectVersions(sessionId);
      if (stored[objectId] !== undefined) this.setVersion(sessionId, objectId, stored[objectId]);
    });
  }

  async labelObject(sessionId: string, objectId: number, label: string): Promise<void> {
    await this.started(sessionId, 'an object name');
    await this.serial(sessionId, async () => {
      // An object without a prompt has no row; one made now would be an empty object in exports.
      // Set as given ('object' too: an undone first name); addObject would keep a name over 'object'.
      if ((await this.store.listObjects(sessionId)).some((o) => o.objectId === objectId)) {
        await write('an object name', () => this.store.history.setLabel(sessionId, objectId, label, this.check(sessionId)));
        await this.touched(sessionId, [objectId]);
      } else this.pendingLabels.set(`${sessionId}:${objectId}`, label);
    });
  }

  /**
   * Any stored session (this server's or a CLI's, open or closed) whose clip is a file that
   * still holds the stored bytes: masks laid on other pixels would make wrong memories silently.
   */
  async supportSource(sessionId: string): Promise<SupportSource> {
    await this.recordReady(sessionId);
    const session = await this.store.requireSession(sessionId);
    const clip = (await this.store.getClip(session.clipId))!;
    if (clip.contentHash.startsWith('live:')) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `session "${sessionId}" is live: support needs a recorded clip`);
    if ((await hashClip(clip.path)) !== clip.contentHash) {
      throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `the clip of session "${sessionId}" is no longer at ${clip.path} (the file there has other bytes)`);
    }
    return { clip: clip.path, masks: await this.store.toVisJson(sessionId), promptVersion: session.promptVersion };
  }

  /** Kept in session meta `support` (no schema change: it is a fact about the session, not a prompt of one frame). */
  async setSupport(sessionId: string, support: readonly SinkSupport[]): Promise<void> {
    await this.started(sessionId, 'support');
    await this.serial(sessionId, () => write('support', () => this.store.updateSessionMeta(sessionId, { support })));
  }

  async currentMasks(sessionId: string): Promise<StoredMask[]> {
    await this.recordReady(sessionId);
    if (!(await this.store.getSession(sessionId))) return [];
    return (await this.store.currentMasks(sessionId)).map((m) => ({
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
    await this.serial(sessionId, async () => {
      const live = this.live.get(sessionId);
      if (live) {
        const end = Math.max(...masks.map((m) => m.frame)) + 1;
        if (end > live.frames) {
          await write('masks', () => this.store.growClip(live.clipId, end));
          live.frames = end;
        }
      }
      const ids = masks.map((m) => m.objectId);
      await write(`${masks.length} mask(s)`, () =>
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
          this.check(sessionId),
        ),
      );
      await this.touched(sessionId, ids);
      // An object with support only gets its row from its first masks: a name given before waits for them.
      for (const id of new Set(ids)) {
        const label = this.pendingLabels.get(`${sessionId}:${id}`);
        if (label === undefined) continue;
        const o = await write('an object name', () => this.store.addObject(sessionId, id, label, this.check(sessionId)));
        this.setVersion(sessionId, id, o.version);
        this.pendingLabels.delete(`${sessionId}:${id}`);
      }
    });
  }

  async removeObject(sessionId: string, objectId: number): Promise<void> {
    await this.started(sessionId, 'a removal');
    await this.serial(sessionId, async () => {
      try {
        await write('a removal', () => this.store.removeObject(sessionId, objectId, this.check(sessionId)));
        await this.touched(sessionId, [objectId]);
      } catch (e) {
        if (!isCinesegError(e, ErrorCode.E_OBJECT_UNKNOWN)) throw e;
      }
    });
  }

  async closeSession(sessionId: string): Promise<void> {
    await this.recordReady(sessionId);
    this.failedStarts.delete(sessionId);
    if (!this.sizes.has(sessionId)) return;
    this.sizes.delete(sessionId);
    this.live.delete(sessionId);
    for (const k of this.pendingLabels.keys()) if (k.startsWith(`${sessionId}:`)) this.pendingLabels.delete(k);
    // After the session's writes still running: its masks are stored before it reads as closed.
    await this.serial(sessionId, () => write('the session close', () => this.store.setSessionStatus(sessionId, 'closed')));
    this.versions.delete(sessionId);
  }

  async destroy(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    releaseOwner(this.owner.instance);
    // A record still being made, or a write still running, would write into a closed store.
    await Promise.all([...this.starting.values(), ...this.chains.values()].map((p) => p.catch(() => undefined)));
    this.failedStarts.clear();
    this.sizes.clear();
    this.live.clear();
    this.pendingLabels.clear();
    this.versions.clear();
    if (this.owned) await this.store.destroy();
    this.ownedSync?.destroy();
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
