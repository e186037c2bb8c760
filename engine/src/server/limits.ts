/**
 * The bounds one `cineseg serve` keeps, whoever connects: sizes of messages, numbers of
 * connections and sessions, and the prompt rate. Each session holds a whole clip decoded at the
 * model's size and competes for the same ONNX sessions, so these are what keep one client (or a
 * runaway script) from taking the server's memory and CPU from everyone else. The connection
 * bounds (heartbeat, idle timeout, resume grace, unsent bytes per socket) keep dead or stalled
 * viewers from holding sessions and memory: see ws-server.ts and socket-output.ts.
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
  /**
   * WebSocket ping every this many ms (0: no heartbeat). A connection that has answered none of
   * the last `heartbeatMissedPongs` pings (and sent nothing else) is terminated: a dead tab, a
   * sleeping laptop or a cut network otherwise holds its sessions until TCP gives up (hours).
   */
  heartbeatIntervalMs: number;
  heartbeatMissedPongs: number;
  /**
   * A connection that sent no request for this long while none of its sessions is live or
   * propagating is closed (4001, E_CONNECTION_IDLE); 0: never. Its sessions may be resumed.
   */
  idleTimeoutMs: number;
  /**
   * How long the sessions of a connection that dropped (anything but a close the client asked
   * for with 1000 or no status) wait for a `resume` with their resume token before they are
   * released; 0: released at once.
   */
  resumeGraceMs: number;
  /** Live: a frame (picture, masks, frame message) is dropped for a viewer whose socket holds more than this unsent. */
  liveMaxBufferedBytes: number;
  /** Recorded: propagation waits (drained()) while the viewer's socket holds more than this unsent. */
  recordedMaxBufferedBytes: number;
  /** How long a propagation waits for a viewer to drain before the connection is closed (4008, E_CLIENT_SLOW). */
  drainTimeoutMs: number;
  /** Unsent bytes beyond which any connection is closed (4008, E_CLIENT_SLOW): the bound whatever is sent. */
  maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxMessageBytes: 2 * MAX_TEXT_MESSAGE_BYTES,
  maxConnections: 64,
  maxSessions: 16,
  maxSessionsPerConnection: 4,
  promptBurst: 20,
  promptsPerSecond: 10,
  // ~30-45 s from a dead peer to its connection terminated, then 30 s to come back.
  heartbeatIntervalMs: 15_000,
  heartbeatMissedPongs: 2,
  idleTimeoutMs: 30 * 60_000,
  resumeGraceMs: 30_000,
  liveMaxBufferedBytes: 4 << 20,
  recordedMaxBufferedBytes: 1 << 20,
  drainTimeoutMs: 30_000,
  maxBufferedBytes: 32 << 20,
});

/** Limits where 0 means "off" or "at once". */
const ZERO_OK: ReadonlySet<keyof ServerLimits> = new Set(['heartbeatIntervalMs', 'idleTimeoutMs', 'resumeGraceMs']);

/** Defaults filled in; every value checked. @throws CinesegError E_USAGE */
export function resolveLimits(partial: Partial<ServerLimits> = {}): ServerLimits {
  const l: ServerLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(partial) as [keyof ServerLimits, number | undefined][]) if (v !== undefined) l[k] = v;
  for (const [k, v] of Object.entries(l)) {
    const zero = ZERO_OK.has(k as keyof ServerLimits);
    const ok = k === 'promptsPerSecond' ? Number.isFinite(v) && v > 0 : Number.isInteger(v) && v >= (zero ? 0 : 1);
    const want = k === 'promptsPerSecond' ? 'a positive number' : zero ? 'an integer >= 0' : 'a positive integer';
    if (!ok) throw new CinesegError(ErrorCode.E_USAGE, `limit ${k} must be ${want}, got ${String(v)}`);
  }
  return l;
}
