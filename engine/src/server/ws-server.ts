/**
 * The WebSocket endpoint: validates every text message against protocol.ts, dispatches it to the
 * session manager, and answers each request with its result or a coded error carrying the
 * request's seq. Nothing a client sends can throw out of here: a bad message costs that client an
 * error reply, never the server.
 *
 * Upgrades pass the same access check as HTTP (token, Origin, Host; see access-control.ts) and
 * the connection bound; a refused upgrade is answered with its HTTP status and a coded JSON body.
 *
 * Connections that stop answering do not hold the server (limits.ts has the numbers):
 * - Heartbeat: a ping every `heartbeatIntervalMs`; a peer that answered none of the last
 *   `heartbeatMissedPongs` (and sent nothing) is terminated — a dead tab frees its sessions.
 * - Idle: no request for `idleTimeoutMs` while nothing of the connection's runs: closed (4001).
 * - Unsent bytes per socket are bounded (socket-output.ts): live frames are dropped per viewer,
 *   recorded propagation waits for its viewer, and a viewer that takes nothing is closed (4008).
 * - Resume: the sessions of a connection that dropped (anything but a close the client asked for
 *   with 1000 or no status) wait `resumeGraceMs` for a `resume` with their token from a new
 *   connection, which gets `sessionStarted` again and a recorded session's current masks; after
 *   the grace they are released as a closed tab's are (a running propagation finishes first).
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { errorMessage, MAX_WS_PAYLOAD_BYTES, parseClientMessage, PROTOCOL_VERSION, WS_PATH, type ClientMessage, type RestoredSession, type Resume } from '../protocol.js';
import type { AccessControl } from './access-control.js';
import type { AnnotationSink } from './annotation-sink.js';
import { StoreSink } from './store-sink.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { Counter, Gauge } from 'prom-client';
import type { ServerMetrics } from './metrics.js';
import type { SessionManager } from './session-manager.js';
import { deliverReopened, restoredSummary, storedSessionState } from './session-restore.js';
import { afterReply } from './session-output.js';
import { SocketOutput } from './socket-output.js';
import { volumeViewId } from './clip-catalog.js';

/** A server-initiated close is followed by terminate() after this long (a stalled peer never answers it). */
const CLOSE_TIMEOUT_MS = 1000;

/** One open connection. */
interface Conn {
  ws: WebSocket;
  /** Who the session manager knows this connection as. */
  owner: string;
  out: SocketOutput;
  /** Heartbeat pings sent since the peer was last heard from. */
  missed: number;
  lastRequestAt: number;
  /** The server closed it (heartbeat, idle, too slow): its sessions may be resumed. */
  serverClosed: boolean;
}

export interface WsServerOptions {
  /** Who may connect (default: anyone). */
  access?: AccessControl;
  limits?: ServerLimits;
  metrics?: ServerMetrics;
  /** Applied to every error message sent to a client (see path-redactor.ts). */
  redact?: (text: string) => string;
  log?: (line: string) => void;
  /** Where a resumed recorded session's current masks are read from (absent: none are resent). */
  sink?: AnnotationSink;
}

/** Answers a refused upgrade on the raw socket: status line, coded JSON body, close. */
function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export class WsServer {
  readonly wss: WebSocketServer;
  private readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  private readonly log: (line: string) => void;
  private readonly redact: (text: string) => string;
  private readonly limits: ServerLimits;
  private readonly conns = new Set<Conn>();
  /** Sessions a client may take back with `resume`: their token and their current owner. */
  private readonly resumable = new Map<string, { token: string; owner: string }>();
  /** Owners whose connection dropped, until their resume grace ends. */
  private readonly grace = new Map<string, NodeJS.Timeout>();
  private readonly heartbeat: NodeJS.Timeout | null;
  /** Live frames dropped for viewers that were behind (all connections; null without metrics). */
  readonly viewerDrops: Counter | null = null;
  private destroyed = false;
  /** Messages rejected as malformed (tests, logs). */
  rejected = 0;
  /** Connections terminated by the heartbeat, closed as idle, closed as too slow (tests, logs). */
  readonly closedBy = { heartbeat: 0, idle: 0, slow: 0 };

  constructor(
    private readonly http: Server,
    private readonly manager: SessionManager,
    private readonly opts: WsServerOptions = {},
  ) {
    this.log = opts.log ?? (() => undefined);
    this.redact = opts.redact ?? ((t) => t);
    const limits = (this.limits = opts.limits ?? DEFAULT_LIMITS);
    if (opts.metrics) {
      const registers = [opts.metrics.registry];
      this.viewerDrops = new Counter({
        name: 'cineseg_live_viewer_frames_dropped_total',
        help: 'Live frames (picture, masks and frame message together) not sent to a viewer whose socket was behind.',
        registers,
      });
      const buffered = () => this.bufferedBytes;
      new Gauge({
        name: 'cineseg_websocket_buffered_bytes',
        help: 'Bytes sent to WebSocket clients and not yet taken by them, all connections.',
        registers,
        collect() {
          this.set(buffered());
        },
      });
    }
    this.heartbeat = limits.heartbeatIntervalMs > 0 ? setInterval(() => this.beat(), limits.heartbeatIntervalMs) : null;
    this.heartbeat?.unref();
    // ws checks maxPayload while receiving, before a byte of an oversized message is buffered.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: Math.min(limits.maxMessageBytes, MAX_WS_PAYLOAD_BYTES) });
    this.onUpgrade = (req, socket, head) => {
      socket.on('error', () => undefined);
      const path = (req.url ?? '').split('?')[0];
      if (path !== WS_PATH) {
        refuseUpgrade(socket, 404, ErrorCode.E_INPUT_NOT_FOUND, `no WebSocket endpoint here; it is ${WS_PATH}`);
        return;
      }
      const verdict = opts.access?.check(req) ?? { ok: true };
      if (!verdict.ok) {
        opts.metrics?.error(verdict.code);
        refuseUpgrade(socket, verdict.status, verdict.code, verdict.message);
        return;
      }
      if (this.wss.clients.size >= limits.maxConnections) {
        opts.metrics?.error(ErrorCode.E_CONNECTION_LIMIT);
        refuseUpgrade(socket, 503, ErrorCode.E_CONNECTION_LIMIT, `the server has ${limits.maxConnections} connections open, its limit`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    };
    http.on('upgrade', this.onUpgrade);
  }

  /** Open connections. */
  get connections(): number {
    return this.wss.clients.size;
  }

  /** Unsent bytes of every connection together. */
  get bufferedBytes(): number {
    let n = 0;
    for (const c of this.conns) n += c.ws.bufferedAmount;
    return n;
  }

  /** Sessions waiting for a resume (their connection dropped, the grace has not ended). */
  get awaitingResume(): number {
    let n = 0;
    for (const r of this.resumable.values()) if (this.grace.has(r.owner)) n++;
    return n;
  }

  private onConnection(ws: WebSocket): void {
    const owner = randomUUID();
    this.opts.metrics?.connectionsTotal.inc();
    const L = this.limits;
    const conn: Conn = {
      ws,
      owner,
      missed: 0,
      lastRequestAt: Date.now(),
      serverClosed: false,
      out: new SocketOutput(ws, {
        liveMaxBufferedBytes: L.liveMaxBufferedBytes,
        recordedMaxBufferedBytes: L.recordedMaxBufferedBytes,
        maxBufferedBytes: L.maxBufferedBytes,
        drainTimeoutMs: L.drainTimeoutMs,
        redact: this.redact,
        onError: (code) => this.opts.metrics?.error(code),
        onDrop: () => this.viewerDrops?.inc(),
        onTooSlow: (why) => {
          this.closedBy.slow++;
          this.opts.metrics?.error(ErrorCode.E_CLIENT_SLOW);
          this.log(`websocket closed: ${why}`);
          this.serverClose(conn, 4008, ErrorCode.E_CLIENT_SLOW);
        },
      }),
    };
    this.conns.add(conn);
    const out = conn.out;
    ws.on('error', (e) => this.log(`websocket error: ${e.message}`));
    ws.on('pong', () => (conn.missed = 0));
    ws.on('close', (code: number) => this.onClose(conn, code));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      conn.missed = 0;
      conn.lastRequestAt = Date.now();
      if (isBinary) {
        this.rejected++;
        out.json(errorMessage('E_PROTOCOL_BINARY', 'clients send JSON text messages only', null));
        return;
      }
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      const parsed = parseClientMessage(text);
      if (!parsed.ok) {
        this.rejected++;
        out.json(parsed.error);
        return;
      }
      this.dispatch(owner, parsed.msg, out).catch((e: unknown) => {
        const err = toCinesegError(e);
        out.json(errorMessage(err.code, err.message, parsed.msg.seq));
      });
    });
  }

  /** Heartbeat and idle check of every connection (see the module comment). */
  private beat(): void {
    const now = Date.now();
    const L = this.limits;
    for (const c of this.conns) {
      if (c.missed >= L.heartbeatMissedPongs) {
        this.closedBy.heartbeat++;
        this.log(`websocket terminated: no answer to ${c.missed} heartbeat pings`);
        c.serverClosed = true;
        c.ws.terminate();
        continue;
      }
      if (L.idleTimeoutMs > 0 && now - c.lastRequestAt > L.idleTimeoutMs && !this.busy(c.owner)) {
        this.closedBy.idle++;
        c.out.json(
          errorMessage(ErrorCode.E_CONNECTION_IDLE, `no request for ${Math.round(L.idleTimeoutMs / 1000)} s: closed; its sessions may be resumed for ${Math.round(L.resumeGraceMs / 1000)} s`, null),
        );
        this.serverClose(c, 4001, ErrorCode.E_CONNECTION_IDLE);
        continue;
      }
      c.missed++;
      try {
        c.ws.ping();
      } catch {
        // Closing already: the close event releases it.
      }
    }
  }

  /** Whether one of the owner's sessions is working for it (live, or propagating). */
  private busy(owner: string): boolean {
    for (const [id, r] of this.resumable) {
      if (r.owner !== owner) continue;
      try {
        const s = this.manager.get(owner, id);
        if (s.kind === 'live' || s.propagating) return true;
      } catch {
        // closed meanwhile
      }
    }
    return false;
  }

  private serverClose(c: Conn, code: number, reason: string): void {
    c.serverClosed = true;
    c.out.close();
    try {
      c.ws.close(code, reason);
    } catch {
      // already closing
    }
    setTimeout(() => c.ws.terminate(), CLOSE_TIMEOUT_MS).unref();
  }

  private onClose(c: Conn, code: number): void {
    this.conns.delete(c);
    c.out.close();
    // Shutting down: the session manager is destroyed with every session right after.
    if (this.destroyed) return;
    // 1000, or 1005 (a close frame without status: ws's and browsers' close()): the client said
    // goodbye. Anything else (1001 page reload, 1006 connection lost, closed by us) may come back.
    const clean = !c.serverClosed && (code === 1000 || code === 1005);
    if (clean || this.limits.resumeGraceMs === 0) {
      this.release(c.owner);
      return;
    }
    for (const [id, r] of this.resumable) {
      if (r.owner !== c.owner) continue;
      try {
        // Detached: a propagation goes on at the model's pace (nothing to drain) and is stored.
        this.manager.get(c.owner, id).output.attach(null);
      } catch {
        // closed meanwhile
      }
    }
    const t = setTimeout(() => {
      this.grace.delete(c.owner);
      this.release(c.owner);
    }, this.limits.resumeGraceMs);
    t.unref();
    this.grace.set(c.owner, t);
  }

  /** The owner is gone for good: its sessions are released (see SessionManager.releaseOwner). */
  private release(owner: string): void {
    for (const [id, r] of this.resumable) if (r.owner === owner) this.resumable.delete(id);
    this.manager.releaseOwner(owner);
  }

  /**
   * Takes a session back for `owner` (see the module comment). The new output sees every mask
   * sent from the moment it is attached; the stored masks are read after that and resent, except
   * those the session sent meanwhile (they are as new or newer), so the client ends with the
   * current state. @throws CinesegError E_SESSION_UNKNOWN (unknown, closed, released, other token)
   */
  private async resume(owner: string, msg: Resume, out: SocketOutput, restored?: () => Promise<RestoredSession>): Promise<void> {
    const r = this.resumable.get(msg.sessionId);
    // `restored`: an openSession of a session whose client left and is still in its grace (see dispatch).
    if (!r || (restored ? !this.grace.has(r.owner) : !sameToken(r.token, msg.resumeToken))) {
      throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no session "${msg.sessionId}" to resume (closed, released after the resume grace, or another token)`);
    }
    const s = this.manager.transfer(msg.sessionId, r.owner, owner);
    r.owner = owner;
    // Taken over without the token: a new one, so the tab that left cannot take it back.
    if (restored) r.token = randomBytes(18).toString('base64url');
    const reply = {
      ...s.started(msg.seq),
      resumeToken: r.token,
      resumed: true,
      ...(s.kind === 'recorded' ? { propagating: s.propagating } : {}),
      ...(restored ? { restored: await restored() } : {}),
    };
    // The session may have been taken again meanwhile (another resume): leave that one's output.
    const stillMine = (): boolean => this.resumable.get(msg.sessionId)?.owner === owner;
    const sink = this.opts.sink;
    if (s.kind !== 'recorded' || !sink?.currentMasks) {
      out.json(reply);
      if (s.kind === 'recorded') out.json(await s.promptsMessage(msg.seq));
      if (stillMine()) s.output.attach(out);
      return;
    }
    await deliverReopened(s, afterReply(out, await s.promptsMessage(msg.seq)), reply, () => sink.currentMasks!(s.sessionId), stillMine);
  }

  private async dispatch(owner: string, msg: ClientMessage, out: SocketOutput): Promise<void> {
    const m = this.manager;
    const ack = (sessionId: string | null) => out.json({ v: PROTOCOL_VERSION, type: 'ack', seq: msg.seq, sessionId, request: msg.type });
    switch (msg.type) {
      case 'ping':
        ack(null);
        return;
      case 'startSession': {
        const s = msg.live ? await m.startLive(owner, out) : await m.startRecorded(owner, volumeViewId(msg.clip!, msg.plane, msg.window), out, msg.sam, msg.model);
        const resumeToken = randomBytes(18).toString('base64url');
        this.resumable.set(s.sessionId, { token: resumeToken, owner });
        out.json({ ...s.started(msg.seq), resumeToken });
        return;
      }
      case 'resume':
        await this.resume(owner, msg, out);
        return;
      case 'openSession': {
        // A session whose tab was reloaded or lost its connection a moment ago is still held here,
        // waiting for a resume its new page cannot send (the token went with the old page): the
        // same server's client opening it takes it over as a resume, masks and all. Anyone who may
        // reopen a stored session could equally wait out the grace, so this grants nothing more.
        const held = this.resumable.get(msg.sessionId);
        const sink = this.opts.sink;
        if (held && this.grace.has(held.owner) && sink instanceof StoreSink && this.manager.get(held.owner, msg.sessionId).kind === 'recorded') {
          const store = sink.store;
          await this.resume(owner, { ...msg, type: 'resume', resumeToken: '' }, out, async () => restoredSummary(store, msg.sessionId, await storedSessionState(store, msg.sessionId)));
          return;
        }
        // A stored session back from the store (session-restore.ts): reply, then its masks.
        const r = await m.reopenRecorded(owner, msg.sessionId, msg.model);
        const resumeToken = randomBytes(18).toString('base64url');
        this.resumable.set(r.session.sessionId, { token: resumeToken, owner });
        await r.deliver(
          afterReply(out, await r.session.promptsMessage(msg.seq)),
          { ...r.session.started(msg.seq), resumeToken, restored: r.summary },
          () => this.resumable.get(msg.sessionId)?.owner === owner,
        );
        return;
      }
      case 'addPoints':
      case 'addBox':
      case 'addMask': {
        const s = m.get(owner, msg.sessionId);
        m.takePrompt(owner, msg.sessionId);
        const at = await s.prompt(msg);
        out.json({
          v: PROTOCOL_VERSION,
          type: 'ack',
          seq: msg.seq,
          sessionId: msg.sessionId,
          request: msg.type,
          frame: at.frame,
          ptsUs: at.ptsUs,
          ...('objectId' in at ? { objectId: at.objectId as number } : {}),
          // Recorded: the stored prompt, and whether its mask came out empty (its `prompts` message went first).
          ...('promptId' in at ? { promptId: at.promptId, empty: at.empty, objectScore: at.objectScore } : {}),
        });
        return;
      }
      case 'removePrompt':
      case 'clearFrame':
      case 'undo':
      case 'redo': {
        const s = m.get(owner, msg.sessionId);
        if (s.kind !== 'recorded') throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'prompt history is kept for recorded clips; a live prompt is taken back with removeObject');
        // Each runs the model on the frames it touches and is a committed write: a click's bucket.
        m.takePrompt(owner, msg.sessionId);
        const at = await s.edit(msg);
        out.json({ v: PROTOCOL_VERSION, type: 'ack', seq: msg.seq, sessionId: msg.sessionId, request: msg.type, ...at });
        return;
      }
      case 'propagate': {
        const s = m.get(owner, msg.sessionId);
        if (s.kind !== 'recorded') throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'live sessions track continuously; propagate is for recorded clips');
        // The ack goes out when the propagation starts (a microtask ahead of its first mask, which
        // waits for a graph run), or the request gets the error that kept it from starting.
        await s.propagate(msg);
        ack(msg.sessionId);
        return;
      }
      case 'cancelPropagate': {
        const s = m.get(owner, msg.sessionId);
        if (s.kind === 'recorded') await s.cancelPropagate();
        ack(msg.sessionId);
        return;
      }
      case 'removeObject': {
        const s = m.get(owner, msg.sessionId);
        await (s.kind === 'recorded' ? s.removeObject(msg.objectId, msg.seq) : s.removeObject(msg.objectId));
        ack(msg.sessionId);
        return;
      }
      case 'renameObject': {
        const s = m.get(owner, msg.sessionId);
        // A name is a committed write too: it draws on the session's prompt bucket.
        m.takePrompt(owner, msg.sessionId);
        await (s.kind === 'recorded' ? s.renameObject(msg.objectId, msg.name, msg.seq) : s.renameObject(msg.objectId, msg.name));
        ack(msg.sessionId);
        return;
      }
      case 'addSupport': {
        const s = m.get(owner, msg.sessionId);
        if (s.kind !== 'recorded') throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'support is for recorded clips; live sessions take clicks');
        // It decodes and encodes frames of another clip: it draws on the prompt bucket like a click.
        m.takePrompt(owner, msg.sessionId);
        const support = await s.addSupport(msg);
        out.json({ v: PROTOCOL_VERSION, type: 'ack', seq: msg.seq, sessionId: msg.sessionId, request: msg.type, support });
        return;
      }
      case 'freezeLive':
      case 'unfreezeLive': {
        const s = m.get(owner, msg.sessionId);
        if (s.kind !== 'live') throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'freeze is for live sessions; a recorded clip is paused in the player');
        if (msg.type === 'unfreezeLive') {
          await s.unfreeze();
          ack(msg.sessionId);
          return;
        }
        const at = await s.freeze(msg.frame);
        out.json({ v: PROTOCOL_VERSION, type: 'ack', seq: msg.seq, sessionId: msg.sessionId, request: msg.type, frame: at.frame, ptsUs: at.ptsUs });
        return;
      }
      case 'closeSession':
        await m.close(owner, msg.sessionId);
        this.resumable.delete(msg.sessionId);
        ack(msg.sessionId);
        return;
    }
  }

  /** Closes every connection and stops accepting new ones. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    this.http.off('upgrade', this.onUpgrade);
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const t of this.grace.values()) clearTimeout(t);
    this.grace.clear();
    for (const c of this.conns) c.out.destroy();
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

/** Compares resume tokens in constant time. */
function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
