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
  // player/: the browser client's own failures (the server's codes reach it as they are)
  E_NOT_CONNECTED: 'E_NOT_CONNECTED', // the player's WebSocket was not open, or closed before the reply came: the request is lost, the player reconnects by itself
  E_HTTP_FAILED: 'E_HTTP_FAILED', // an HTTP request of the player got no answer, or an answer without a coded error body (a proxy's page, 405)
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What the error table says of one code: the stage that raises it, its HTTP status, one line of meaning. */
export interface ErrorInfo {
  /** The folder of engine/src (or player/) whose work fails with this code. */
  stage: string;
  /**
   * The status an HTTP answer carrying this code has (the server's one mapping: httpStatusOf). Codes
   * that travel only over the WebSocket, stay in the CLI or in the player have the status they
   * would have as an HTTP answer: 4xx when the request was at fault, 5xx when the server or a
   * dependency was. Over HTTP an input is always the server's own media, so an input that cannot
   * be read or decoded is a 500 (logged), not the request's fault.
   */
  http: number;
  /** One line: what happened and, where there is one, what to do. */
  meaning: string;
}

/**
 * The one error table: docs/errors.md is generated from it (scripts/gen-errors-doc.mjs) and the
 * server maps codes to HTTP statuses with it. A Record over ErrorCode, so a code without an entry
 * does not compile.
 */
export const ERROR_INFO: Record<ErrorCode, ErrorInfo> = {
  E_INPUT_NOT_FOUND: { stage: 'source', http: 404, meaning: "The input (file, folder, clip file, route or WebSocket path) does not exist, or a clip's file changed since it was registered." },
  E_INPUT_EMPTY: { stage: 'source', http: 400, meaning: 'The input holds nothing to read: a 0-byte file, a folder without images, or nothing approved to learn from.' },
  E_INPUT_UNSUPPORTED: { stage: 'source', http: 500, meaning: 'A kind of input cineseg does not read: an unknown URL scheme, not a file or folder, a DICOM or volume it cannot use.' },
  E_DECODE_NO_VIDEO: { stage: 'decode', http: 500, meaning: 'ffprobe found no video stream in the input.' },
  E_DECODE_CORRUPT: { stage: 'decode', http: 500, meaning: 'The input is damaged or truncated (ffmpeg, DICOM, gzip or NIfTI data that cannot be read).' },
  E_DECODE_PROBE_FAILED: { stage: 'decode', http: 500, meaning: 'ffprobe failed or printed something unreadable: its stderr is in the message.' },
  E_DECODE_FAILED: { stage: 'decode', http: 500, meaning: 'ffmpeg stopped while decoding, or reported frames cineseg cannot use (no size, a size change mid-stream).' },
  E_DECODE_TOO_LARGE: { stage: 'decode', http: 500, meaning: 'The pictures are larger than cineseg decodes (16384 px a side, 8192 x 8192 pixels): a hostile header costs an error, not the machine.' },
  E_LIVE_CONNECT_TIMEOUT: { stage: 'decode', http: 504, meaning: 'A live source gave no frame within the connect timeout.' },
  E_LIVE_STALLED: { stage: 'decode', http: 504, meaning: 'A live source that was streaming sent no data for the stall timeout.' },
  E_LIVE_CONNECT_FAILED: { stage: 'decode', http: 502, meaning: 'A live source could not be connected to (refused, unreachable, wrong URL).' },
  E_LIVE_SOURCE_LOST: { stage: 'decode', http: 502, meaning: 'A live source that was streaming stopped and every reconnect attempt failed.' },
  E_SEEK_OUT_OF_RANGE: { stage: 'decode', http: 416, meaning: 'A start frame or time past the last frame of the clip.' },
  E_FFMPEG_MISSING: { stage: 'decode', http: 500, meaning: 'ffmpeg or ffprobe could not be started: install ffmpeg (npm run setup) or put it on PATH.' },
  E_ENCODE_FAILED: { stage: 'decode', http: 500, meaning: 'Encoding failed: the live JPEG encoder or an ffmpeg encode stopped, or was given a frame of the wrong size.' },
  E_BUNDLE_NOT_FOUND: { stage: 'model', http: 500, meaning: 'The model bundle folder does not exist or has no manifest.json.' },
  E_BUNDLE_MANIFEST: { stage: 'model', http: 500, meaning: "The bundle's manifest.json is not valid JSON or not a valid manifest." },
  E_BUNDLE_GRAPH_MISSING: { stage: 'model', http: 500, meaning: 'A graph the manifest names is not in the bundle folder (or is empty).' },
  E_BUNDLE_GRAPH_MISMATCH: { stage: 'model', http: 500, meaning: 'An ONNX graph does not load, or its inputs and outputs are not the ones the manifest states.' },
  E_BUNDLE_VERSION: { stage: 'model', http: 500, meaning: "The bundle's format version is not one this cineseg reads." },
  E_EP_UNAVAILABLE: { stage: 'model', http: 500, meaning: 'The requested onnxruntime execution provider (or, with auto, every one) could not start.' },
  E_MODEL_RUN: { stage: 'model', http: 500, meaning: 'Running a graph failed, or the inference worker failed or did not start.' },
  E_PROMPT_INVALID: { stage: 'track', http: 400, meaning: 'A prompt the tracker cannot use: points, box or mask malformed or outside the frame, or support on a live session.' },
  E_FRAME_OUT_OF_RANGE: { stage: 'track', http: 400, meaning: 'A frame index outside the clip (a prompt, a start frame or a range).' },
  E_OBJECT_UNKNOWN: { stage: 'track', http: 404, meaning: 'An object id that is not tracked in this session (no prompt or support for it).' },
  E_PROMPT_UNKNOWN: { stage: 'track', http: 404, meaning: 'removePrompt / clearFrame named a prompt (or a frame with prompts) the session does not have now.' },
  E_HISTORY_EMPTY: { stage: 'track', http: 409, meaning: 'Undo with no edit to take back, or redo with none undone.' },
  E_TRACKER_STATE: { stage: 'track', http: 409, meaning: "The request does not fit the session's state (e.g. reopening a live record, or a session another tool made)." },
  E_TRACKER_DESTROYED: { stage: 'track', http: 410, meaning: 'The tracker or its model sessions were released (session closed, server stopping).' },
  E_MASK_INVALID: { stage: 'mask', http: 400, meaning: 'A mask of the wrong size or form (for the clip, the live video, or an export).' },
  E_RLE_INVALID: { stage: 'mask', http: 400, meaning: 'COCO RLE counts that do not cover the picture exactly (sent, stored or read from a file).' },
  E_OUTPUT_WRITE: { stage: 'export', http: 500, meaning: "A file or folder could not be written (an output, a staged input, a media folder's labels.json)." },
  E_STORE: { stage: 'store', http: 500, meaning: 'The annotation store failed (SQLite or PostgreSQL error, or a record it should hold is missing).' },
  E_SESSION_UNKNOWN: { stage: 'store', http: 404, meaning: 'No stored (or open) session with that id.' },
  E_STORE_WRITE: {
    stage: 'store',
    http: 503,
    meaning: "A write the server was about to acknowledge did not commit (store locked, read-only or full, or the session's record never started): the request fails instead of being acked and lost.",
  },
  E_STORE_UNAVAILABLE: { stage: 'store', http: 503, meaning: 'The store cannot be reached or opened (PostgreSQL down, wrong URL or password).' },
  E_STORE_VERSION: { stage: 'store', http: 500, meaning: "The store's schema is newer than this cineseg knows: upgrade cineseg, never downgrade the data." },
  E_EDIT_CONFLICT: { stage: 'store', http: 409, meaning: 'The object was changed by another editor since this one last read it (optimistic versioning): reload, then edit again.' },
  E_QUEUE_UNAVAILABLE: { stage: 'queue', http: 503, meaning: 'Redis cannot be reached at the --queue URL.' },
  E_QUEUE_JOB_UNKNOWN: { stage: 'queue', http: 404, meaning: '`cineseg queue retry` named a job the queue does not hold.' },
  E_PROTOCOL_JSON: { stage: 'protocol', http: 400, meaning: 'A WebSocket text message that is not JSON.' },
  E_PROTOCOL_INVALID: { stage: 'protocol', http: 400, meaning: "A message or request body that is JSON but not of the protocol's shape (the first issue is in the message)." },
  E_PROTOCOL_VERSION: { stage: 'protocol', http: 400, meaning: 'A message whose `v` is not the protocol version this server speaks.' },
  E_PROTOCOL_BINARY: { stage: 'protocol', http: 400, meaning: 'A binary message that is not what its kind byte says (clients send JSON text only).' },
  E_MESSAGE_TOO_LARGE: { stage: 'protocol', http: 413, meaning: 'A WebSocket message larger than the server accepts.' },
  E_SESSION_BUSY: { stage: 'server', http: 409, meaning: 'The session is open elsewhere (another connection or process) or busy: close it there first.' },
  E_CLIP_UNKNOWN: { stage: 'server', http: 404, meaning: 'No clip with that id in the media folders this server serves.' },
  E_LIVE_UNAVAILABLE: { stage: 'server', http: 503, meaning: 'The server has no live source running (no --live, or it stopped).' },
  E_HLS_FAILED: { stage: 'server', http: 500, meaning: 'Packaging a clip as HLS with ffmpeg failed (the cause is in the message).' },
  E_AUTH_REQUIRED: { stage: 'server', http: 401, meaning: 'No token where the server requires one: open the URL it printed or send Authorization: Bearer <token>.' },
  E_AUTH_INVALID: { stage: 'server', http: 401, meaning: 'A token was given and it is wrong.' },
  E_AUTH_ORIGIN: { stage: 'server', http: 403, meaning: 'The browser Origin is neither this server nor an --allow-origin.' },
  E_AUTH_HOST: { stage: 'server', http: 403, meaning: 'The Host header is not a loopback name on an open loopback server (DNS rebinding).' },
  E_PATH_FORBIDDEN: { stage: 'server', http: 403, meaning: 'A path that would leave a media, cache or player root.' },
  E_RATE_LIMITED: { stage: 'server', http: 429, meaning: "Prompts faster than the session's token bucket allows: retry after the time in the message." },
  E_SESSION_LIMIT: { stage: 'server', http: 429, meaning: 'Too many open sessions (server-wide or on one connection): close one or retry later.' },
  E_CONNECTION_LIMIT: { stage: 'server', http: 503, meaning: 'Too many WebSocket connections: the upgrade is refused.' },
  E_CLIENT_SLOW: { stage: 'server', http: 503, meaning: 'A viewer did not take what was sent (drain timeout or send buffer bound): its connection is closed (4008), its sessions may be resumed.' },
  E_CONNECTION_IDLE: { stage: 'server', http: 408, meaning: 'No request for the idle timeout and nothing running: the connection is closed (4001), its sessions may be resumed.' },
  E_TRAIN_UNAVAILABLE: { stage: 'adapt', http: 503, meaning: 'No Python 3 with PyTorch to train with (npm run setup installs python3-torch; CINESEG_PYTHON overrides).' },
  E_TRAIN_FAILED: { stage: 'adapt', http: 500, meaning: "The trainer stopped with an error (its log's tail is in the message)." },
  E_TRAIN_WORSE: { stage: 'adapt', http: 422, meaning: 'The fine-tuned model scored lower on validation than its base: nothing written (--force writes it).' },
  E_BASE_CHECKPOINT: { stage: 'adapt', http: 500, meaning: "The base bundle's source weights are missing or are not the ones it was exported from." },
  E_JOB_BUSY: { stage: 'adapt', http: 409, meaning: 'A finetune job is already queued or running (one at a time), or the server is shutting down.' },
  E_JOB_UNKNOWN: { stage: 'adapt', http: 404, meaning: 'No such finetune job (GET/DELETE /api/jobs/:id).' },
  E_MODEL_UNKNOWN: { stage: 'adapt', http: 404, meaning: 'A model id that is not in GET /api/models.' },
  E_EXPORT_FORMAT: { stage: 'export', http: 400, meaning: 'An export format the exporters do not have (the message lists them).' },
  E_EXPORT_FILTER: { stage: 'export', http: 400, meaning: '--object / --frames (objects=, frames=) malformed or naming nothing of the session.' },
  E_LABELS_INVALID: { stage: 'export', http: 400, meaning: 'A label set (labels.json, PUT /api/labels) that is not {labels:[{name,color:#rrggbb}]}.' },
  E_USAGE: { stage: 'cli', http: 400, meaning: 'A command line (or a server option) that is wrong: a missing or malformed option or value.' },
  E_CANCELLED: { stage: 'cli', http: 409, meaning: 'The work was cancelled before it finished (Ctrl-C, session closed, live source stopped, a newer request).' },
  E_INTERNAL: { stage: 'cli', http: 500, meaning: 'A bug: something cineseg did not expect (the message says what); please report it.' },
  E_NOT_CONNECTED: { stage: 'player', http: 503, meaning: "The player's WebSocket was not open, or closed before the reply came: the request is lost; the player reconnects by itself." },
  E_HTTP_FAILED: { stage: 'player', http: 502, meaning: 'An HTTP request of the player got no answer, or one without a coded error body (the HTTP status is in the message).' },
};

/** The HTTP status of a code (ERROR_INFO); 500 for a code this table does not know (a newer peer's). */
export function httpStatusOf(code: ErrorCode | string): number {
  return (ERROR_INFO as Record<string, ErrorInfo | undefined>)[code]?.http ?? 500;
}

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
