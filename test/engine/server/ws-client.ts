/**
 * A tiny protocol client for tests: sends requests with increasing seq, resolves each with the
 * first reply carrying its seq (ack, sessionStarted or error), and keeps every message received.
 */
import WebSocket from 'ws';
import { decodeMaskFrame, binaryKind, type ServerMessage, type MaskFrame } from '../../../engine/src/protocol.js';

export class TestClient {
  readonly messages: ServerMessage[] = [];
  readonly masks: (MaskFrame & { counts: Uint32Array })[] = [];
  readonly frames: Uint8Array[] = [];
  /** Live pictures (JPEGs sent ahead of their frame messages). */
  readonly pictures: Uint8Array[] = [];
  /** Every binary message's kind and frame index (all three headers keep it at byte 8), in arrival order. */
  readonly binaryOrder: { kind: 'mask' | 'frame' | 'picture' | null; frame: number }[] = [];
  private seq = 1;
  private readonly waiters: { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const u = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        const kind = binaryKind(u);
        this.binaryOrder.push({ kind, frame: u.byteLength >= 12 ? new DataView(u.buffer, u.byteOffset, u.byteLength).getUint32(8, true) : -1 });
        if (kind === 'mask') this.masks.push(decodeMaskFrame(u));
        else if (kind === 'picture') this.pictures.push(u.slice());
        else this.frames.push(u.slice());
        return;
      }
      const m = JSON.parse(data.toString('utf8')) as ServerMessage;
      this.messages.push(m);
      for (let i = 0; i < this.waiters.length; i++) {
        if (this.waiters[i]!.pred(m)) {
          this.waiters.splice(i, 1)[0]!.resolve(m);
          i--;
        }
      }
    });
  }

  static connect(url: string, opts?: WebSocket.ClientOptions): Promise<TestClient> {
    const ws = new WebSocket(url, opts);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestClient(ws)));
      ws.once('error', reject);
    });
  }

  /** The next message matching `pred` (also one already received, when `past`). */
  waitFor(pred: (m: ServerMessage) => boolean, past = false, timeoutMs = 60_000): Promise<ServerMessage> {
    if (past) {
      const m = this.messages.find(pred);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a message')), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }

  /** Sends a request (seq filled in) and resolves with its reply. */
  request(msg: Record<string, unknown>): Promise<ServerMessage> {
    const seq = this.seq++;
    const p = this.waitFor((m) => m.seq === seq && (m.type === 'ack' || m.type === 'sessionStarted' || m.type === 'error'));
    this.ws.send(JSON.stringify({ v: 1, seq, ...msg }));
    return p;
  }

  sendRaw(text: string | Buffer): void {
    this.ws.send(text);
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((r) => {
      this.ws.once('close', () => r());
      this.ws.close();
    });
  }
}
