/**
 * One connection's side of {@link SessionOutput}: what sessions send goes into the socket, and
 * how much the socket may hold unsent is bounded, per kind of stream:
 *
 * - Live (handles announced by a live `sessionStarted`): newest wins. Whether a viewer gets a
 *   frame is decided once, when the frame's first message comes (its picture, or its masks or
 *   frame message for a viewer that joined in between): a socket holding more than
 *   `liveMaxBufferedBytes` unsent gets none of that frame's messages (picture, masks, frame
 *   message), so the player never has half a frame, and the drop is counted. The next frame is
 *   decided afresh: once the socket has drained, the viewer gets the newest frame, not a backlog.
 *   A mask for an older frame than the one being sent is a prompt's mask on a held frame (the
 *   confirmation of a click): it always goes, and prompts are rate-limited, so it stays small.
 * - Recorded: propagation awaits `drained()` after each frame's masks, so it runs at the pace of
 *   its viewer. A viewer that takes nothing for `drainTimeoutMs` is too slow: `onTooSlow` closes
 *   the connection (its sessions go on detached and may be resumed) and the wait ends.
 * - Anything: more than `maxBufferedBytes` unsent closes the connection the same way; nothing a
 *   server sends can grow without bound behind a stalled socket.
 *
 * `ws.bufferedAmount` is what ws and the kernel socket hold unsent for this peer.
 */
import type { WebSocket } from 'ws';
import { ErrorCode } from '../errors.js';
import type { ServerMessage } from '../protocol.js';
import type { SessionOutput } from './session-output.js';

export interface SocketOutputOptions {
  liveMaxBufferedBytes: number;
  recordedMaxBufferedBytes: number;
  maxBufferedBytes: number;
  drainTimeoutMs: number;
  /** Applied to every error message sent (see path-redactor.ts). */
  redact?: (text: string) => string;
  /** Every coded error sent (metrics). */
  onError?: (code: string) => void;
  /** A live frame dropped for this viewer. */
  onDrop?: () => void;
  /** The viewer is too slow (E_CLIENT_SLOW): the owner closes the connection. */
  onTooSlow: (why: string) => void;
}

/** How often a wait for drain looks at the socket again (ws has no drain event of its own). */
const DRAIN_POLL_MS = 5;

export class SocketOutput implements SessionOutput {
  /** Session handles of live sessions on this connection. */
  private readonly liveHandles = new Set<number>();
  /** Per live handle: the frame being sent and whether this viewer takes it. */
  private readonly liveFrame = new Map<number, { frame: number; admitted: boolean }>();
  private readonly waiters = new Set<() => void>();
  private poll: NodeJS.Timeout | null = null;
  private closed = false;
  /** Live frames dropped for this viewer. */
  drops = 0;
  /** The most this socket held unsent right after a send (tests, logs). */
  peakBufferedBytes = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly opts: SocketOutputOptions,
  ) {}

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  json(m: ServerMessage): void {
    if (m.type === 'error') {
      this.opts.onError?.(m.code);
      if (this.opts.redact) m = { ...m, message: this.opts.redact(m.message) };
    }
    if (m.type === 'sessionStarted' && m.kind === 'live') this.liveHandles.add(m.handle);
    this.send(JSON.stringify(m));
  }

  binary(d: Uint8Array): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (d.byteLength >= 12) {
      const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
      const handle = dv.getUint32(4, true);
      if (this.liveHandles.has(handle) && !this.admitLive(d[0]!, handle, dv.getUint32(8, true))) return;
    }
    this.send(d);
  }

  /** Whether a live message goes to this viewer (see the module comment). */
  private admitLive(kind: number, handle: number, frame: number): boolean {
    const cur = this.liveFrame.get(handle);
    // 1: mask. An older frame's mask is a prompt's confirmation.
    if (cur && kind === 1 && frame < cur.frame) return true;
    if (cur && frame === cur.frame) return cur.admitted;
    const admitted = this.ws.bufferedAmount <= this.opts.liveMaxBufferedBytes;
    this.liveFrame.set(handle, { frame, admitted });
    if (!admitted) {
      this.drops++;
      this.opts.onDrop?.();
    }
    return admitted;
  }

  private send(data: string | Uint8Array): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(data, { binary: typeof data !== 'string' });
    const b = this.ws.bufferedAmount;
    if (b > this.peakBufferedBytes) this.peakBufferedBytes = b;
    if (b > this.opts.maxBufferedBytes) this.tooSlow(`${b} bytes unsent to this viewer, over the bound of ${this.opts.maxBufferedBytes}`);
  }

  /**
   * Resolves once the socket holds at most `recordedMaxBufferedBytes` unsent, or the connection
   * is closed. Waiting longer than `drainTimeoutMs` closes it as too slow (and resolves).
   */
  drained(): Promise<void> {
    if (this.closed || this.ws.readyState !== this.ws.OPEN || this.ws.bufferedAmount <= this.opts.recordedMaxBufferedBytes) return Promise.resolve();
    const since = Date.now();
    return new Promise<void>((resolve) => {
      const w = (): void => {
        this.waiters.delete(w);
        resolve();
      };
      this.waiters.add(w);
      this.poll ??= setInterval(() => {
        if (this.closed || this.ws.readyState !== this.ws.OPEN || this.ws.bufferedAmount <= this.opts.recordedMaxBufferedBytes) this.releaseWaiters();
        else if (Date.now() - since > this.opts.drainTimeoutMs) this.tooSlow(`the viewer took nothing for ${this.opts.drainTimeoutMs} ms (${this.ws.bufferedAmount} bytes unsent)`);
      }, DRAIN_POLL_MS);
    });
  }

  private tooSlow(why: string): void {
    if (this.closed) return;
    this.close();
    this.opts.onTooSlow(`${ErrorCode.E_CLIENT_SLOW}: ${why}`);
  }

  private releaseWaiters(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    for (const w of [...this.waiters]) w();
  }

  /** Nothing more is sent; waits for drain end. Idempotent. */
  close(): void {
    this.closed = true;
    this.releaseWaiters();
  }

  destroy(): void {
    this.close();
  }
}
