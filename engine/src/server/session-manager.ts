/**
 * Sessions by id, who owns them, and their lifetimes. A client that goes away releases its
 * sessions, except that a running propagation finishes first (its masks are stored), so the work
 * a user asked for is not lost with the tab.
 *
 * It also keeps the session bounds of limits.ts: sessions being opened hold their place from the
 * first await (two concurrent startSession messages cannot both take the last slot), sessions of
 * departed clients still finishing count until they are released, and each session has its own
 * prompt bucket, so one client's flood of prompts slows only that session.
 */
import { randomUUID } from 'node:crypto';
import { CinesegError, ErrorCode } from '../errors.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import type { SamOptions } from '../track/tracking-engine.js';
import type { RestoredSession, ServerMessage } from '../protocol.js';
import type { AnnotationSink } from './annotation-sink.js';
import type { ClipCatalog } from './clip-catalog.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { LiveSession, type LivePipeline } from './live-session.js';
import { TokenBucket } from './token-bucket.js';
import { RecordedSession, type RecordedSessionHooks } from './recorded-session.js';
import type { SessionOutput } from './session-output.js';
import { deliverReopened, loadForReopen, type StoredSessionState } from './session-restore.js';
import { StoreSink } from './store-sink.js';

export type AnySession = RecordedSession | LiveSession;

/** A stored session reopened (SessionManager.reopenRecorded), not yet given to its client. */
export interface ReopenedSession {
  session: RecordedSession;
  state: StoredSessionState;
  summary: RestoredSession;
  /** Sends `reply` (its sessionStarted), then the stored masks, and attaches `out` (session-restore.ts deliverReopened). */
  deliver(out: SessionOutput, reply: ServerMessage, stillMine?: () => boolean): Promise<void>;
}

export class SessionManager {
  private readonly sessions = new Map<string, { session: AnySession; owner: string; prompts: TokenBucket }>();
  private nextHandle = 1;
  private readonly settling = new Set<Promise<void>>();
  /** Sessions being opened, by owner. */
  private readonly opening = new Map<string, number>();
  /** Owners whose connection closed while a session of theirs was being opened. */
  private readonly departed = new Set<string>();
  private readonly limits: ServerLimits;
  private readonly hooks: RecordedSessionHooks;
  /** Stored sessions being reopened (two connections cannot take the same one). */
  private readonly reopening = new Set<string>();
  /** Sessions of departed clients still finishing: not reopened under them. */
  private readonly departedIds = new Set<string>();

  constructor(
    private readonly catalog: ClipCatalog,
    private readonly models: ModelSessions,
    private readonly sink: AnnotationSink,
    private readonly live: LivePipeline | null,
    opts: { limits?: ServerLimits; hooks?: RecordedSessionHooks; modelFor?: (id: string) => Promise<ModelSessions>; user?: string } = {},
  ) {
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.hooks = opts.hooks ?? {};
    this.modelFor = opts.modelFor ?? null;
    this.user = opts.user ?? null;
  }

  /** A model id's sessions (server/model-catalog.ts); null: every session runs on `models`. */
  private readonly modelFor: ((id: string) => Promise<ModelSessions>) | null;
  /** Who the server's sessions are recorded as made by (GET /api/sessions createdBy). */
  private readonly user: string | null;

  /** The sessions of model `id` (undefined: the server's own). @throws CinesegError E_MODEL_UNKNOWN */
  private async modelSessions(id: string | undefined): Promise<ModelSessions> {
    if (id === undefined || !this.modelFor) {
      if (id !== undefined && id !== 'default') throw new CinesegError(ErrorCode.E_MODEL_UNKNOWN, 'this server offers only its own model (see GET /api/models)');
      return this.models;
    }
    return this.modelFor(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Open sessions by kind; sessions of departed clients still finishing count as recorded. */
  counts(): { recorded: number; live: number } {
    let live = 0;
    for (const e of this.sessions.values()) if (e.session.kind === 'live') live++;
    return { recorded: this.sessions.size - live + this.settling.size, live };
  }

  async startRecorded(owner: string, clipId: string, out: SessionOutput, sam?: SamOptions, model?: string): Promise<RecordedSession> {
    return this.admit(owner, async () => {
      const clip = await this.catalog.get(clipId);
      const models = await this.modelSessions(model);
      // The session's own SAM 2 flags over the server's defaults.
      const hooks0 = sam ? { ...this.hooks, sam: { ...this.hooks.sam, ...sam } } : this.hooks;
      const sessionMeta = { ...(model !== undefined && model !== 'default' ? { model } : {}), ...(this.user ? { createdBy: this.user } : {}) };
      const hooks = Object.keys(sessionMeta).length ? { ...hooks0, sessionMeta: { ...hooks0.sessionMeta, ...sessionMeta } } : hooks0;
      const s = await RecordedSession.open(randomUUID(), this.handle(), clip, models, this.sink, hooks);
      s.output.attach(out);
      this.add(s, owner);
      return s;
    });
  }

  /**
   * Reopens a stored recorded session for `owner` (openSession): its objects, prompts and masks
   * come from the store and its tracker memory from the stored masks (RecordedSession.restore),
   * nothing is tracked again. The output is not attached yet: the caller sends the reply, then
   * the stored masks (session-restore.ts deliverReopened). A session this server holds, or one
   * being reopened by another connection right now, is refused.
   * @throws CinesegError E_SESSION_UNKNOWN (no store, or no such session), E_SESSION_BUSY,
   *   E_SESSION_LIMIT, and loadForReopen's codes
   */
  async reopenRecorded(owner: string, sessionId: string, model?: string): Promise<ReopenedSession> {
    const sink = this.sink;
    if (!(sink instanceof StoreSink)) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, 'this server keeps no store (started with --no-store): there is no stored session to reopen');
    if (this.holds(sessionId)) {
      throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${sessionId}" is open on this server (close it there first, or resume it)`, { details: { sessionId } });
    }
    this.reopening.add(sessionId);
    try {
      return await this.admit(owner, async () => {
        const { clip, state, summary } = await loadForReopen(sink.store, this.catalog, sessionId);
        // The model it ran on, unless the client asks for another (recorded in its meta then).
        const stored = (await sink.store.getSession(sessionId))?.meta.model;
        const modelId = model ?? (typeof stored === 'string' ? stored : undefined);
        // A stored model since deleted falls back to the server's own; one the client names must exist.
        const models = await this.modelSessions(modelId).catch((e: unknown) => (model === undefined ? this.models : Promise.reject(e)));
        await sink.resumeSession(sessionId);
        if (model !== undefined && model !== stored) await sink.store.updateSessionMeta(sessionId, { model: model === 'default' ? null : model });
        let s: RecordedSession;
        try {
          // The flags it was tracked with over today's defaults (a server restarted with other flags).
          const hooks = state.sam ? { ...this.hooks, sam: { ...this.hooks.sam, ...state.sam } } : this.hooks;
          s = await RecordedSession.restore(sessionId, this.handle(), clip, models, sink, hooks, state);
        } catch (e) {
          // Not taken up after all: closed again, so it stays reopenable.
          await sink.closeSession(sessionId).catch(() => undefined);
          throw e;
        }
        this.add(s, owner);
        return { session: s, state, summary, deliver: (out, reply, stillMine) => deliverReopened(s, out, reply, state.masks, stillMine) };
      });
    } finally {
      this.reopening.delete(sessionId);
    }
  }

  async startLive(owner: string, out: SessionOutput): Promise<LiveSession> {
    if (!this.live) throw new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'this server has no live source (start it with --live <url|loop:file>)');
    return this.admit(owner, () => this.openLive(owner, out, this.live!));
  }

  /**
   * Takes one prompt from the session's bucket.
   * @throws CinesegError E_SESSION_UNKNOWN, E_RATE_LIMITED
   */
  takePrompt(owner: string, sessionId: string): void {
    this.get(owner, sessionId);
    const b = this.sessions.get(sessionId)!.prompts;
    if (!b.take()) {
      throw new CinesegError(ErrorCode.E_RATE_LIMITED, `more than ${b.perSecond} prompts per second (burst ${b.burst}) on this session; retry in ${b.retryAfterMs()} ms`, {
        details: { retryAfterMs: b.retryAfterMs() },
      });
    }
  }

  /** Runs `open` holding a session slot of `owner`. @throws CinesegError E_SESSION_LIMIT */
  private async admit<T>(owner: string, open: () => Promise<T>): Promise<T> {
    const L = this.limits;
    let opening = 0;
    for (const n of this.opening.values()) opening += n;
    if (this.sessions.size + this.settling.size + opening >= L.maxSessions) {
      throw new CinesegError(ErrorCode.E_SESSION_LIMIT, `the server has ${L.maxSessions} sessions open, its limit; close one or retry later`);
    }
    let mine = this.opening.get(owner) ?? 0;
    for (const e of this.sessions.values()) if (e.owner === owner) mine++;
    if (mine >= L.maxSessionsPerConnection) {
      throw new CinesegError(ErrorCode.E_SESSION_LIMIT, `this connection has ${L.maxSessionsPerConnection} sessions open, its limit; close one first`);
    }
    this.opening.set(owner, (this.opening.get(owner) ?? 0) + 1);
    try {
      const s = await open();
      // The client left while this was opening: releaseOwner ran before the session was added.
      if (this.departed.has(owner)) this.releaseOwner(owner);
      return s;
    } finally {
      const n = this.opening.get(owner)! - 1;
      if (n > 0) this.opening.set(owner, n);
      else {
        this.opening.delete(owner);
        this.departed.delete(owner);
      }
    }
  }

  private add(session: AnySession, owner: string): void {
    this.sessions.set(session.sessionId, { session, owner, prompts: new TokenBucket(this.limits.promptBurst, this.limits.promptsPerSecond) });
  }

  private async openLive(owner: string, out: SessionOutput, live: LivePipeline): Promise<LiveSession> {
    const s = new LiveSession(randomUUID(), this.handle(), live);
    this.add(s, owner);
    try {
      await live.subscribe(s);
    } catch (e) {
      this.sessions.delete(s.sessionId);
      await s.destroy();
      throw e;
    }
    s.output.attach(out);
    return s;
  }

  /** The session, if this owner holds it. @throws CinesegError E_SESSION_UNKNOWN */
  get(owner: string, sessionId: string): AnySession {
    const e = this.sessions.get(sessionId);
    if (!e || e.owner !== owner) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no session "${sessionId}" on this connection`);
    return e.session;
  }

  /**
   * Hands a session to another owner: a client resuming after its connection dropped (ws-server
   * checks the resume token first). @throws CinesegError E_SESSION_UNKNOWN
   */
  transfer(sessionId: string, from: string, to: string): AnySession {
    const s = this.get(from, sessionId);
    this.sessions.get(sessionId)!.owner = to;
    return s;
  }

  /** Whether this server holds the session now (any owner; departed clients' ones still finishing too). */
  holds(sessionId: string): boolean {
    return this.sessions.has(sessionId) || this.reopening.has(sessionId) || this.departedIds.has(sessionId);
  }

  /**
   * Closes a session whoever holds it (POST /api/sessions/:id/close): a running propagation is
   * stopped after its frame in flight. Returns false when this server does not hold it.
   */
  async closeById(sessionId: string): Promise<boolean> {
    const e = this.sessions.get(sessionId);
    if (!e) return false;
    this.sessions.delete(sessionId);
    e.session.output.json({ v: 1, type: 'error', code: ErrorCode.E_SESSION_UNKNOWN, message: `session "${sessionId}" was closed by a request to the server`, seq: null });
    await e.session.destroy();
    return true;
  }

  async close(owner: string, sessionId: string): Promise<void> {
    const s = this.get(owner, sessionId);
    this.sessions.delete(sessionId);
    await s.destroy();
  }

  /** The owner's connection is gone: detach outputs; let running propagations finish, then release. */
  releaseOwner(owner: string): void {
    if (this.opening.has(owner)) this.departed.add(owner);
    for (const [id, e] of this.sessions) {
      if (e.owner !== owner) continue;
      this.sessions.delete(id);
      e.session.output.attach(null);
      const p = (e.session.kind === 'recorded' ? e.session.settle() : Promise.resolve())
        .catch(() => undefined)
        .then(() => e.session.destroy())
        .catch(() => undefined);
      this.settling.add(p);
      this.departedIds.add(id);
      void p.finally(() => {
        this.settling.delete(p);
        this.departedIds.delete(id);
      });
    }
  }

  /** Resolves when sessions of departed clients have finished their work (tests). */
  async idle(): Promise<void> {
    while (this.settling.size) await Promise.all([...this.settling]);
  }

  async destroy(): Promise<void> {
    const all = [...this.sessions.values()].map((e) => e.session);
    this.sessions.clear();
    await Promise.all(all.map((s) => s.destroy().catch(() => undefined)));
    await this.idle();
  }

  private handle(): number {
    const h = this.nextHandle;
    this.nextHandle = this.nextHandle >= 0xffff_fff0 ? 1 : this.nextHandle + 1;
    return h;
  }
}
