/**
 * The bounds one `cineseg serve` keeps, whoever connects: sizes of messages, numbers of
 * connections and sessions, and the prompt rate. Each session holds a whole clip decoded at the
 * model's size and competes for the same ONNX sessions, so these are what keep one client (or a
 * runaway script) from taking the server's memory and CPU from everyone else.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { MAX_TEXT_MESSAGE_BYTES } from '../protocol.js';

export interface ServerLimits {
  /**
   * Largest WebSocket message a client may send, in bytes (ws `maxPayload`; beyond it the
   * connection is closed with 1009). Messages above the protocol's text bound but below this get
   * a coded E_MESSAGE_TOO_LARGE reply instead.
   */
  maxMessageBytes: number;
  /** Open WebSocket connections; the next upgrade is answered 503 E_CONNECTION_LIMIT. */
  maxConnections: number;
  /** Sessions open at once on the server (sessions of departed clients still finishing included). */
  maxSessions: number;
  /** Sessions open at once on one connection. */
  maxSessionsPerConnection: number;
  /** Prompts (addPoints, addBox, addMask) a session may send at once... */
  promptBurst: number;
  /** ...and per second after that. Beyond: E_RATE_LIMITED, the connection stays open. */
  promptsPerSecond: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxMessageBytes: 2 * MAX_TEXT_MESSAGE_BYTES,
  maxConnections: 64,
  maxSessions: 16,
  maxSessionsPerConnection: 4,
  promptBurst: 20,
  promptsPerSecond: 10,
});

/** Defaults filled in; every value checked. @throws CinesegError E_USAGE */
export function resolveLimits(partial: Partial<ServerLimits> = {}): ServerLimits {
  const l: ServerLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(partial) as [keyof ServerLimits, number | undefined][]) if (v !== undefined) l[k] = v;
  for (const [k, v] of Object.entries(l)) {
    const ok = k === 'promptsPerSecond' ? Number.isFinite(v) && v > 0 : Number.isInteger(v) && v >= 1;
    if (!ok) throw new CinesegError(ErrorCode.E_USAGE, `limit ${k} must be ${k === 'promptsPerSecond' ? 'a positive number' : 'a positive integer'}, got ${String(v)}`);
  }
  return l;
}
