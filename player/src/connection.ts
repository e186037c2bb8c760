/**
 * The player's end of the WebSocket: requests matched to replies by seq, binary messages handed
 * to a listener, and reconnection with backoff (a restarted server is found again; the app then
 * re-opens its session and replays its prompts).
 */
import { PROTOCOL_VERSION, WS_PATH, type ClientMessageInput, type ServerMessage } from '../../engine/src/protocol.js';
import { notConnected, serverError } from './client-error.js';

type Reply = Extract<ServerMessage, { type: 'ack' | 'sessionStarted' | 'error' }>;
type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;
export type Request = DistributiveOmit<ClientMessageInput, 'v' | 'seq'>;

/**
 * Every reply a request got, with the request (any connection of the page): panels that follow what
 * happened without sending it themselves (the propagation panel notes the last corrected frame
 * from prompt acks, whoever sent the prompt) listen here.
 */
export type ReplyListener = (req: Request, reply: Reply) => void;
const replyListeners = new Set<ReplyListener>();
/** Adds a reply listener; returns its removal. */
export function onReply(l: ReplyListener): () => void {
  replyListeners.add(l);
  return () => replyListeners.delete(l);
}

export interface ConnectionEvents {
  /** Connected (again): `reconnect` is true after the first time. */
  open(reconnect: boolean): void;
  close(): void;
  json(msg: ServerMessage): void;
  binary(data: ArrayBuffer): void;
}

export class Connection {
  private ws: WebSocket | null = null;
  private seq = 1;
  private readonly pending = new Map<number, { req: Request; resolve: (m: Reply) => void; reject: (e: Error) => void }>();
  private opened = false;
  private retryMs = 250;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;
  connected = false;

  constructor(
    private readonly url: string,
    private readonly on: ConnectionEvents,
  ) {
    this.connect();
  }

  /** Sends a request; resolves with its ack/sessionStarted, rejects with a CinesegError (the server's code, or E_NOT_CONNECTED). */
  request(msg: Request): Promise<Reply> {
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(notConnected());
        return;
      }
      this.pending.set(seq, { req: msg, resolve, reject });
      this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, seq, ...msg }));
    });
  }

  /** The seq the next request will carry (to match progress messages to a propagate). */
  get nextSeq(): number {
    return this.seq;
  }

  private connect(): void {
    if (this.destroyed) return;
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      this.connected = true;
      this.retryMs = 250;
      const again = this.opened;
      this.opened = true;
      this.on.open(again);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') {
        this.on.binary(ev.data as ArrayBuffer);
        return;
      }
      const m = JSON.parse(ev.data) as ServerMessage;
      if (m.seq !== null && (m.type === 'ack' || m.type === 'sessionStarted' || m.type === 'error')) {
        const p = this.pending.get(m.seq);
        if (p) {
          this.pending.delete(m.seq);
          if (m.type === 'error') p.reject(serverError(m.code, m.message));
          else {
            p.resolve(m);
            for (const l of replyListeners) l(p.req, m);
          }
          return;
        }
      }
      this.on.json(m);
    };
    ws.onclose = () => {
      const was = this.connected;
      this.connected = false;
      for (const p of this.pending.values()) p.reject(notConnected('connection lost before the reply'));
      this.pending.clear();
      if (was) this.on.close();
      if (!this.destroyed) {
        this.timer = setTimeout(() => this.connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 4000);
      }
    };
  }

  destroy(): void {
    this.destroyed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
  }
}

/** ws(s)://<this page's host>/ws */
export function defaultWsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${WS_PATH}`;
}
