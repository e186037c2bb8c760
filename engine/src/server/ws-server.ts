/**
 * The WebSocket endpoint: validates every text message against protocol.ts, dispatches it to the
 * session manager, and answers each request with its result or a coded error carrying the
 * request's seq. Nothing a client sends can throw out of here: a bad message costs that client an
 * error reply, never the server.
 *
 * Upgrades pass the same access check as HTTP (token, Origin, Host; see access-control.ts) and
 * the connection bound; a refused upgrade is answered with its HTTP status and a coded JSON body.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { errorMessage, MAX_WS_PAYLOAD_BYTES, parseClientMessage, PROTOCOL_VERSION, WS_PATH, type ClientMessage, type ServerMessage } from '../protocol.js';
import type { AccessControl } from './access-control.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import type { SessionManager } from './session-manager.js';
import type { SessionOutput } from './session-output.js';

/** A client falling this far behind on live frames gets frames dropped instead of queued. */
const LIVE_MAX_BUFFERED_BYTES = 4 << 20;

export interface WsServerOptions {
  /** Who may connect (default: anyone). */
  access?: AccessControl;
  limits?: ServerLimits;
  metrics?: ServerMetrics;
  /** Applied to every error message sent to a client (see log-redact.ts). */
  redact?: (text: string) => string;
  log?: (line: string) => void;
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
  /** Messages rejected as malformed (tests, logs). */
  rejected = 0;

  constructor(
    private readonly http: Server,
    private readonly manager: SessionManager,
    private readonly opts: WsServerOptions = {},
  ) {
    this.log = opts.log ?? (() => undefined);
    this.redact = opts.redact ?? ((t) => t);
    const limits = opts.limits ?? DEFAULT_LIMITS;
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

  private onConnection(ws: WebSocket): void {
    const owner = randomUUID();
    this.opts.metrics?.connectionsTotal.inc();
    const out: SessionOutput = {
      json: (m: ServerMessage) => {
        if (m.type === 'error') {
          this.opts.metrics?.error(m.code);
          m = { ...m, message: this.redact(m.message) };
        }
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
      },
      binary: (d: Uint8Array) => {
        if (ws.readyState !== ws.OPEN) return;
        // Live frames are the only high-rate binaries; masks of recorded clips always go out.
        if (d[0] === 2 && ws.bufferedAmount > LIVE_MAX_BUFFERED_BYTES) return;
        ws.send(d, { binary: true });
      },
    };
    ws.on('error', (e) => this.log(`websocket error: ${e.message}`));
    ws.on('close', () => this.manager.releaseOwner(owner));
    ws.on('message', (data: RawData, isBinary: boolean) => {
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

  private async dispatch(owner: string, msg: ClientMessage, out: SessionOutput): Promise<void> {
    const m = this.manager;
    const ack = (sessionId: string | null) => out.json({ v: PROTOCOL_VERSION, type: 'ack', seq: msg.seq, sessionId, request: msg.type });
    switch (msg.type) {
      case 'ping':
        ack(null);
        return;
      case 'startSession': {
        const s = msg.live ? await m.startLive(owner, out) : await m.startRecorded(owner, msg.clip!, out);
        out.json(s.started(msg.seq));
        return;
      }
      case 'addPoints':
      case 'addBox':
      case 'addMask': {
        const s = m.get(owner, msg.sessionId);
        m.takePrompt(owner, msg.sessionId);
        const at = await s.prompt(msg);
        out.json({ v: PROTOCOL_VERSION, type: 'ack', seq: msg.seq, sessionId: msg.sessionId, request: msg.type, frame: at.frame, ptsUs: at.ptsUs });
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
        await s.removeObject(msg.objectId);
        ack(msg.sessionId);
        return;
      }
      case 'renameObject': {
        const s = m.get(owner, msg.sessionId);
        // A name is a committed write too: it draws on the session's prompt bucket.
        m.takePrompt(owner, msg.sessionId);
        await s.renameObject(msg.objectId, msg.name);
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
      case 'closeSession':
        await m.close(owner, msg.sessionId);
        ack(msg.sessionId);
        return;
    }
  }

  /** Closes every connection and stops accepting new ones. */
  async destroy(): Promise<void> {
    this.http.off('upgrade', this.onUpgrade);
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}
