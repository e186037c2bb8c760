/**
 * Every failure cineseg reports carries a stable code. Callers (CLI, server, tests) branch on the
 * code, never on the message text, so messages can improve without breaking anyone.
 *
 * Codes are grouped by the stage of the flow that raises them. Add new codes here, never inline.
 */
export const ErrorCode = {
  // decode/ and source/: anything between an input and raw frames
  E_INPUT_NOT_FOUND: 'E_INPUT_NOT_FOUND',
  E_INPUT_EMPTY: 'E_INPUT_EMPTY',
  E_INPUT_UNSUPPORTED: 'E_INPUT_UNSUPPORTED',
  E_DECODE_NO_VIDEO: 'E_DECODE_NO_VIDEO',
  E_DECODE_CORRUPT: 'E_DECODE_CORRUPT',
  E_DECODE_PROBE_FAILED: 'E_DECODE_PROBE_FAILED',
  E_DECODE_FAILED: 'E_DECODE_FAILED',
  E_DECODE_TOO_LARGE: 'E_DECODE_TOO_LARGE',
  E_LIVE_CONNECT_TIMEOUT: 'E_LIVE_CONNECT_TIMEOUT',
  E_LIVE_STALLED: 'E_LIVE_STALLED',
  E_LIVE_CONNECT_FAILED: 'E_LIVE_CONNECT_FAILED',
  /** A live source that was streaming stopped and every reconnect attempt failed. */
  E_LIVE_SOURCE_LOST: 'E_LIVE_SOURCE_LOST',
  E_SEEK_OUT_OF_RANGE: 'E_SEEK_OUT_OF_RANGE',
  E_FFMPEG_MISSING: 'E_FFMPEG_MISSING',
  E_ENCODE_FAILED: 'E_ENCODE_FAILED',
  // model/: bundles and ONNX sessions
  E_BUNDLE_NOT_FOUND: 'E_BUNDLE_NOT_FOUND',
  E_BUNDLE_MANIFEST: 'E_BUNDLE_MANIFEST',
  E_BUNDLE_GRAPH_MISSING: 'E_BUNDLE_GRAPH_MISSING',
  E_BUNDLE_GRAPH_MISMATCH: 'E_BUNDLE_GRAPH_MISMATCH',
  E_BUNDLE_VERSION: 'E_BUNDLE_VERSION',
  E_EP_UNAVAILABLE: 'E_EP_UNAVAILABLE',
  E_MODEL_RUN: 'E_MODEL_RUN',
  // track/: prompts and tracker state
  E_PROMPT_INVALID: 'E_PROMPT_INVALID',
  E_FRAME_OUT_OF_RANGE: 'E_FRAME_OUT_OF_RANGE',
  E_OBJECT_UNKNOWN: 'E_OBJECT_UNKNOWN',
  /** removePrompt / clearFrame named a prompt (or a frame with prompts) the session does not have now. */
  E_PROMPT_UNKNOWN: 'E_PROMPT_UNKNOWN',
  /** undo with no edit to take back, or redo with none undone. */
  E_HISTORY_EMPTY: 'E_HISTORY_EMPTY',
  E_TRACKER_STATE: 'E_TRACKER_STATE',
  E_TRACKER_DESTROYED: 'E_TRACKER_DESTROYED',
  // mask/ and output
  E_MASK_INVALID: 'E_MASK_INVALID',
  E_RLE_INVALID: 'E_RLE_INVALID',
  E_OUTPUT_WRITE: 'E_OUTPUT_WRITE',
  // store/: the SQLite annotation store
  E_STORE: 'E_STORE',
  E_SESSION_UNKNOWN: 'E_SESSION_UNKNOWN',
  /** A write the server was about to acknowledge did not commit (store locked, read-only or full; or the session's record never started): the request fails instead of being acked and lost. */
  E_STORE_WRITE: 'E_STORE_WRITE',
  E_STORE_UNAVAILABLE: 'E_STORE_UNAVAILABLE', // [503] the store cannot be reached or opened (PostgreSQL down, wrong URL or password)
  E_STORE_VERSION: 'E_STORE_VERSION', // the store's schema is newer than this cineseg knows: upgrade cineseg, never downgrade the data
  E_EDIT_CONFLICT: 'E_EDIT_CONFLICT', // [409] the object was changed by another editor since this one last read it (optimistic versioning): reload, then edit again
  // queue/: BullMQ jobs on Redis (batch --queue, worker, queue status)
  E_QUEUE_UNAVAILABLE: 'E_QUEUE_UNAVAILABLE', // Redis cannot be reached at the --queue URL
  E_QUEUE_JOB_UNKNOWN: 'E_QUEUE_JOB_UNKNOWN', // queue retry named a job the queue does not hold
  // server/ and protocol.ts: the WebSocket protocol and HTTP serving
  E_PROTOCOL_JSON: 'E_PROTOCOL_JSON',
  E_PROTOCOL_INVALID: 'E_PROTOCOL_INVALID',
  E_PROTOCOL_VERSION: 'E_PROTOCOL_VERSION',
  E_PROTOCOL_BINARY: 'E_PROTOCOL_BINARY',
  E_MESSAGE_TOO_LARGE: 'E_MESSAGE_TOO_LARGE',
  E_SESSION_BUSY: 'E_SESSION_BUSY',
  E_CLIP_UNKNOWN: 'E_CLIP_UNKNOWN',
  E_LIVE_UNAVAILABLE: 'E_LIVE_UNAVAILABLE',
  E_HLS_FAILED: 'E_HLS_FAILED',
  // server/: access control and bounds (HTTP status in brackets)
  E_AUTH_REQUIRED: 'E_AUTH_REQUIRED', // [401] no token where one is required
  E_AUTH_INVALID: 'E_AUTH_INVALID', // [401] a token was given and it is wrong
  E_AUTH_ORIGIN: 'E_AUTH_ORIGIN', // [403] browser Origin is neither this server nor --allow-origin
  E_AUTH_HOST: 'E_AUTH_HOST', // [403] Host header is not a loopback name (DNS rebinding) on an open loopback server
  E_PATH_FORBIDDEN: 'E_PATH_FORBIDDEN', // [403] a path that would leave a media, cache or player root
  E_RATE_LIMITED: 'E_RATE_LIMITED', // prompts faster than the session's token bucket allows
  E_SESSION_LIMIT: 'E_SESSION_LIMIT', // too many open sessions (server-wide or on one connection)
  E_CONNECTION_LIMIT: 'E_CONNECTION_LIMIT', // [503] too many WebSocket connections
  E_CLIENT_SLOW: 'E_CLIENT_SLOW', // a viewer did not take what was sent (drain timeout or send buffer bound): its connection is closed (4008), its sessions may be resumed
  E_CONNECTION_IDLE: 'E_CONNECTION_IDLE', // no request for the idle timeout and nothing running: connection closed (4001), sessions may be resumed
  // adapt/ (cineseg finetune)
  E_TRAIN_UNAVAILABLE: 'E_TRAIN_UNAVAILABLE', // no Python 3 with PyTorch to train with
  E_TRAIN_FAILED: 'E_TRAIN_FAILED', // the trainer stopped with an error (its log's tail is in the message)
  E_TRAIN_WORSE: 'E_TRAIN_WORSE', // the fine-tuned model scored lower on validation; nothing written (--force writes it)
  E_BASE_CHECKPOINT: 'E_BASE_CHECKPOINT', // the base bundle's source weights are missing or are not the ones it was exported from
  E_JOB_BUSY: 'E_JOB_BUSY', // [409] a finetune job is already queued or running (one at a time)
  E_JOB_UNKNOWN: 'E_JOB_UNKNOWN', // [404] no such job (GET/DELETE /api/jobs/:id)
  E_MODEL_UNKNOWN: 'E_MODEL_UNKNOWN', // [404] a model id that is not in GET /api/models
  // export/ (cineseg export, GET /api/sessions/:id/export)
  E_EXPORT_FORMAT: 'E_EXPORT_FORMAT', // [400] an export format the exporters do not have
  E_EXPORT_FILTER: 'E_EXPORT_FILTER', // [400] --object / --frames (objects=, frames=) malformed or naming nothing of the session
  E_LABELS_INVALID: 'E_LABELS_INVALID', // [400] a label set (labels.json, PUT /api/labels) that is not {labels:[{name,color:#rrggbb}]}
  // cli/
  E_USAGE: 'E_USAGE',
  E_CANCELLED: 'E_CANCELLED',
  E_INTERNAL: 'E_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The one error type cineseg throws. `code` is stable; `message` is one human line. */
export class CinesegError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for logs and tests (never patient identifiers). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CinesegError';
    this.code = code;
    this.details = options?.details;
  }

  /** `E_CODE: message`, the single line the CLI prints. */
  toLine(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isCinesegError(err: unknown, code?: ErrorCode): err is CinesegError {
  return err instanceof CinesegError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a CinesegError, keeping an existing code. */
export function toCinesegError(err: unknown, fallback: ErrorCode = ErrorCode.E_INTERNAL): CinesegError {
  if (err instanceof CinesegError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CinesegError(fallback, message, { cause: err });
}
