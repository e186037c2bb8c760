/**
 * Sessions by id, who owns them, and their lifetimes. A client that goes away releases its
 * sessions, except that a running propagation finishes first (its masks are stored), so the work
 * a user asked for is not lost with the tab.
 */
import { randomUUID } from 'node:crypto';
import { CinesegError, ErrorCode } from '../errors.js';
import type { ModelSessions } from '../model/ort-sessions.js';
import type { AnnotationSink } from './annotation-sink.js';
import type { ClipCatalog } from './clip-catalog.js';
import { LiveSession, type LivePipeline } from './live-session.js';
import { RecordedSession } from './recorded-session.js';
import type { SessionOutput } from './session-output.js';

export type AnySession = RecordedSession | LiveSession;

export class SessionManager {
  private readonly sessions = new Map<string, { session: AnySession; owner: string }>();
  private nextHandle = 1;
  private readonly settling = new Set<Promise<void>>();

  constructor(
    private readonly catalog: ClipCatalog,
    private readonly models: ModelSessions,
    private readonly sink: AnnotationSink,
    private readonly live: LivePipeline | null,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  async startRecorded(owner: string, clipId: string, out: SessionOutput): Promise<RecordedSession> {
    const clip = await this.catalog.get(clipId);
    const s = await RecordedSession.open(randomUUID(), this.handle(), clip, this.models, this.sink);
    s.output.attach(out);
    this.sessions.set(s.sessionId, { session: s, owner });
    return s;
  }

  async startLive(owner: string, out: SessionOutput): Promise<LiveSession> {
    if (!this.live) throw new CinesegError(ErrorCode.E_LIVE_UNAVAILABLE, 'this server has no live source (start it with --live <url|loop:file>)');
    const s = new LiveSession(randomUUID(), this.handle(), this.live);
    this.sessions.set(s.sessionId, { session: s, owner });
    try {
      await this.live.subscribe(s);
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

  async close(owner: string, sessionId: string): Promise<void> {
    const s = this.get(owner, sessionId);
    this.sessions.delete(sessionId);
    await s.destroy();
  }

  /** The owner's connection is gone: detach outputs; let running propagations finish, then release. */
  releaseOwner(owner: string): void {
    for (const [id, e] of this.sessions) {
      if (e.owner !== owner) continue;
      this.sessions.delete(id);
      e.session.output.attach(null);
      const p = (e.session.kind === 'recorded' ? e.session.settle() : Promise.resolve())
        .catch(() => undefined)
        .then(() => e.session.destroy())
        .catch(() => undefined);
      this.settling.add(p);
      void p.finally(() => this.settling.delete(p));
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
