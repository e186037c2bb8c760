/**
 * The wire between `cineseg serve` and the player: every message, in one file both sides import.
 *
 * - Control messages are JSON text frames `{v, type, seq, ...}`, validated with zod on receipt.
 *   `seq` is chosen by the client; every reply to a request carries the request's `seq` so the
 *   client can match them. Server-initiated messages (progress, live stats) carry `seq: null`.
 * - Masks and live frames are binary frames: a fixed little-endian header, then a payload (COCO
 *   RLE counts for masks, a JPEG for frames). JSON would cost a parse and ~3x the bytes per mask.
 *
 * This module must stay free of Node imports: the player bundles it for the browser.
 *
 * Over 500 lines on purpose: the project keeps the whole wire in this one file (schemas, types,
 * binary codecs), so a change to the protocol is one diff both sides see. Helpers that are not
 * the wire live elsewhere (the RLE codec of the mask payload: mask/rle.ts).
 */
import { z } from 'zod';

// The mask payload's codec lives in mask/rle.ts (the project's one COCO RLE codec, no Node
// imports); the wire re-exports the decoders a receiver of mask messages needs.
export { countsToMask, paintCounts } from './mask/rle.js';

/** Protocol version; bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;
/** Largest text message the server accepts (a mask prompt as RLE fits easily). */
export const MAX_TEXT_MESSAGE_BYTES = 1 << 20;
/** Largest WebSocket payload either side accepts (JPEG frames of large videos included). */
export const MAX_WS_PAYLOAD_BYTES = 16 << 20;
/** Path of the WebSocket endpoint on the server. */
export const WS_PATH = '/ws';

const seq = z.number().int().nonnegative();
const sessionId = z.string().min(1).max(64);
const objectId = z.number().int().min(0).max(0xffff_fffe);
const frame = z.number().int().nonnegative();
const coord = z.number().finite();

export const PointSchema = z.object({ x: coord, y: coord, label: z.union([z.literal(0), z.literal(1)]).default(1) });
export const BoxSchema = z.tuple([coord, coord, coord, coord]);
/** COCO RLE with explicit counts; size is [height, width]. */
export const RleSchema = z.object({
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  counts: z.array(z.number().int().nonnegative()).max(1 << 20),
});

const base = { v: z.literal(PROTOCOL_VERSION), seq };

/**
 * SAM 2 predictor flags of a recorded session (EngineOptions in track/tracking-engine.ts): unset ones
 * take the server's (`serve` flags). Defaults: addAllFramesToCorrectAsCond true (Meta's: false),
 * nonOverlapMasks and nonOverlapMasksForMemEnc false (as Meta's). Ignored for live: the live
 * tracker is shared by every viewer and takes the server's flags.
 */
export const SamOptionsSchema = z.object({ addAllFramesToCorrectAsCond: z.boolean().optional(), nonOverlapMasks: z.boolean().optional(), nonOverlapMasksForMemEnc: z.boolean().optional() }).strict();
/** A model id of GET /api/models (`default`: the server's own); a recorded session runs on that bundle. */
export const ModelIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);
export const StartSessionSchema = z
  .object({
    ...base,
    type: z.literal('startSession'),
    clip: z.string().min(1).max(512).optional(),
    live: z.boolean().optional(),
    sam: SamOptionsSchema.optional(),
    model: ModelIdSchema.optional(),
    /** Volume clips: the plane whose slices are the frames (default the clip id's, else axial). */
    plane: z.enum(['axial', 'coronal', 'sagittal']).optional(),
    /** Volume clips: a window preset name (ClipInfo.volume.windows), `<centre>,<width>` or `auto`. */
    window: z
      .string()
      .regex(/^(auto|[a-z-]{1,32}|-?\d+(\.\d+)?,\d+(\.\d+)?)$/)
      .optional(),
  })
  .refine((m) => (m.clip !== undefined) !== (m.live === true), { message: 'give exactly one of clip or live: true' });
/**
 * `frame` of a prompt on a live session is the index of the live frame the user clicked on (from
 * the frame header). The server applies the prompt to that very frame while it still holds it (the
 * last few tracked frames), else to its newest tracked frame; the ack says which.
 */
export const AddPointsSchema = z.object({
  ...base,
  type: z.literal('addPoints'),
  sessionId,
  frame,
  objectId,
  points: z.array(PointSchema).min(1).max(64),
  /** false: append to the object's earlier clicks on this frame (default true: replace them). */
  clearOld: z.boolean().optional(),
  /** Live: a new object whose id the server picks (`objectId` is ignored); the ack's `objectId` is it. */
  newObject: z.boolean().optional(),
});
export const AddBoxSchema = z.object({
  ...base,
  type: z.literal('addBox'),
  sessionId,
  frame,
  objectId,
  box: BoxSchema,
  points: z.array(PointSchema).max(64).optional(),
  newObject: z.boolean().optional(),
});
export const AddMaskSchema = z.object({ ...base, type: z.literal('addMask'), sessionId, frame, objectId, rle: RleSchema, newObject: z.boolean().optional() });
export const PropagateDirection = z.enum(['forward', 'backward', 'both']);
export const PropagateSchema = z.object({
  ...base,
  type: z.literal('propagate'),
  sessionId,
  direction: PropagateDirection.default('forward'),
  /** Default: the earliest prompted frame. */
  startFrame: frame.optional(),
  /** SAM2's max_frame_num_to_track. */
  maxFrames: z.number().int().nonnegative().optional(),
});
export const CancelPropagateSchema = z.object({ ...base, type: z.literal('cancelPropagate'), sessionId });
export const RemoveObjectSchema = z.object({ ...base, type: z.literal('removeObject'), sessionId, objectId });
/** Names an object; the name is stored as its label (exports' category). */
export const RenameObjectSchema = z.object({ ...base, type: z.literal('renameObject'), sessionId, objectId, name: z.string().trim().min(1).max(200) });
export const CloseSessionSchema = z.object({ ...base, type: z.literal('closeSession'), sessionId });
/**
 * Prompt history of a recorded session (live sessions answer E_TRACKER_STATE). Each change is an
 * edit of the session's history (stored, so it survives a restart): a prompt added (addPoints /
 * addBox / addMask), removed (removePrompt, clearFrame), an object renamed or removed. `undo`
 * takes back the newest edit, `redo` does again the newest one undone; any other edit after an
 * undo drops what could be redone. Each is answered with `prompts`, the affected frames' masks
 * and then the ack.
 */
export const RemovePromptSchema = z.object({ ...base, type: z.literal('removePrompt'), sessionId, promptId: z.number().int().nonnegative() });
/** Removes every prompt on a frame: of one object, or of all objects when `objectId` is left out. */
export const ClearFrameSchema = z.object({ ...base, type: z.literal('clearFrame'), sessionId, frame, objectId: objectId.optional() });
export const UndoSchema = z.object({ ...base, type: z.literal('undo'), sessionId });
export const RedoSchema = z.object({ ...base, type: z.literal('redo'), sessionId });
/** Reopens a stored recorded session (GET /api/sessions lists them): answered with `sessionStarted` carrying `restored`, then its current masks. */
export const OpenSessionSchema = z.object({ ...base, type: z.literal('openSession'), sessionId, /** Run on this model from now on (default: the one it ran on). */ model: ModelIdSchema.optional() });
/**
 * Zero-click support: a stored session's current masks (best from OTHER clips of the same view) become memories of objects here
 * (source ids kept, or all pooled into `targetObjectId`), `frames` per object. Acked once in the tracker and stored.
 */
export const AddSupportSchema = z.object({
  ...base,
  type: z.literal('addSupport'),
  sessionId,
  fromSession: sessionId,
  objectIds: z.array(objectId).min(1).max(64).optional(),
  targetObjectId: objectId.optional(),
  frames: z.number().int().min(1).max(16).optional(),
  /** Also file each frame mirrored left-right (default on: track/support-set.ts says why). */
  mirror: z.boolean().optional(),
});
/**
 * Live: this viewer froze its picture on live frame `frame` (the one on screen). The server keeps
 * that frame promptable while it is frozen — a prompt naming it is applied there and the held
 * frames after it are tracked again — one frozen frame per viewer (a second freeze replaces it),
 * released by `unfreezeLive`, by closing the session or by the connection going. Tracking goes on.
 * The ack's `frame`/`ptsUs` say which frame is frozen: the named one while the server still held
 * it, else its newest tracked frame (the viewer fell further behind than the server holds).
 */
export const FreezeLiveSchema = z.object({ ...base, type: z.literal('freezeLive'), sessionId, frame });
/** Live: the viewer's picture moves again (its frozen frame is released). */
export const UnfreezeLiveSchema = z.object({ ...base, type: z.literal('unfreezeLive'), sessionId });
/** Round trip check used by the player's reconnect logic and by tests. */
export const PingSchema = z.object({ ...base, type: z.literal('ping') });
/**
 * Takes back a session after a dropped connection, within the server's resume grace (30 s by
 * default), with the `resumeToken` its `sessionStarted` gave. Answered with `sessionStarted`
 * (`resumed: true`) and then, for a recorded clip, every current mask of the session.
 */
export const ResumeSchema = z.object({ ...base, type: z.literal('resume'), sessionId, resumeToken: z.string().min(16).max(128) });

/** Every message a client may send. */
export const ClientMessageSchema = z.union([
  StartSessionSchema,
  AddPointsSchema,
  AddBoxSchema,
  AddMaskSchema,
  PropagateSchema,
  CancelPropagateSchema,
  RemoveObjectSchema,
  RenameObjectSchema,
  AddSupportSchema,
  CloseSessionSchema,
  OpenSessionSchema,
  RemovePromptSchema,
  ClearFrameSchema,
  UndoSchema,
  RedoSchema,
  PingSchema,
  ResumeSchema,
  FreezeLiveSchema,
  UnfreezeLiveSchema,
]);

export type Point = z.infer<typeof PointSchema>;
export type RleMessage = z.infer<typeof RleSchema>;
export type StartSession = z.infer<typeof StartSessionSchema>;
export type AddPoints = z.infer<typeof AddPointsSchema>;
export type AddBox = z.infer<typeof AddBoxSchema>;
export type AddMask = z.infer<typeof AddMaskSchema>;
export type Propagate = z.infer<typeof PropagateSchema>;
export type PropagateDirection = z.infer<typeof PropagateDirection>;
export type CancelPropagate = z.infer<typeof CancelPropagateSchema>;
export type RemoveObject = z.infer<typeof RemoveObjectSchema>;
export type RenameObject = z.infer<typeof RenameObjectSchema>;
export type AddSupport = z.infer<typeof AddSupportSchema>;
export type CloseSession = z.infer<typeof CloseSessionSchema>;
export type OpenSession = z.infer<typeof OpenSessionSchema>;
export type Resume = z.infer<typeof ResumeSchema>;
export type RemovePrompt = z.infer<typeof RemovePromptSchema>;
export type ClearFrame = z.infer<typeof ClearFrameSchema>;
export type Undo = z.infer<typeof UndoSchema>;
export type Redo = z.infer<typeof RedoSchema>;
export type FreezeLive = z.infer<typeof FreezeLiveSchema>;
export type UnfreezeLive = z.infer<typeof UnfreezeLiveSchema>;
export type ClientMessage = z.infer<typeof ClientMessageSchema>;
/** A client message as written by a sender (defaults may be left out). */
export type ClientMessageInput = z.input<typeof ClientMessageSchema>;
export type ClientMessageType = ClientMessage['type'];

// ---- server -> client (JSON) ----

/** A clip the server can play (GET /api/clips). */
export interface ClipInfo {
  id: string;
  name: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** Playlist URL, relative to the server root. */
  hlsUrl: string;
  /**
   * A CT/MR volume shown as slices (NIfTI or DICOM series): the planes it can be shown in, the
   * one this clip shows (its id ends `#<plane>`), voxel spacing in mm along column, row and
   * frame of that plane, the modality, and the window presets offered (CT).
   */
  volume?: {
    planes: string[];
    plane: string;
    spacingMm: [number, number, number];
    modality: string;
    windows?: { name: string; center: number; width: number }[];
  };
}

export interface SessionStarted {
  v: 1;
  type: 'sessionStarted';
  seq: number;
  sessionId: string;
  /** The number mask and frame binary headers carry for this session. */
  handle: number;
  kind: 'recorded' | 'live';
  width: number;
  height: number;
  fps: number;
  /** Recorded: frame count. Live: null. */
  numFrames: number | null;
  /** Recorded: every frame's PTS in µs (first frame first); the player keys masks by these. */
  framePtsUs: number[] | null;
  clip: string | null;
  /**
   * The id the session's prompts and masks are stored under (`cineseg export <id>`). Recorded:
   * the session id. Live: one record per run of the source, shared by everyone watching it.
   */
  recordId?: string;
  /** A reply to `openSession`: the stored objects and prompts; `restored.masks` mask messages follow. */
  restored?: RestoredSession;
  /** The credential a `resume` after a dropped connection needs (only this client has it). */
  resumeToken?: string;
  /** A reply to `resume`: the session as it was; a recorded one's current masks follow. */
  resumed?: boolean;
  /** Resumed: a propagation is still running (its progress and propagateDone follow). */
  propagating?: boolean;
  /**
   * Size of a pixel in mm, [row spacing, column spacing], where the source states it (a DICOM
   * cine's Pixel Spacing, or its ultrasound region's Physical Delta Y/X): the player shows areas in mm².
   */
  pixelSpacingMm?: [number, number];
  /** Live with `--live-record-pictures`: the pictures of this record are stored (GET /api/live-records/<recordId>/frames). */
  picturesStored?: boolean;
}

/** What a reopened session held in the store (its masks come as mask messages). */
export interface RestoredSession {
  objects: { objectId: number; label: string }[];
  /** Point and box prompts in the order given (mask prompts show as their masks); the `prompts` message that follows lists them all. */
  prompts: { promptId: number; kind: 'points' | 'box'; objectId: number; frame: number; points: Point[]; box?: [number, number, number, number] }[];
  masks: number;
}

/** A request was done. For prompts it comes after the prompted frame's masks. */
export interface Ack {
  v: 1;
  type: 'ack';
  seq: number;
  sessionId: string | null;
  request: ClientMessageType;
  /** Prompts: the frame the prompt was applied to (live: may differ from the one asked for), and its PTS. */
  frame?: number;
  ptsUs?: number;
  /** Prompts: the object the prompt went to (live `newObject`: the id the server gave it). */
  objectId?: number;
  support?: { objectId: number; memories: number }[]; // addSupport: each target object's support memories in all now
  /** Recorded prompts: the stored prompt's id (removePrompt takes it). */
  promptId?: number;
  /** Recorded prompts: the object's resulting mask on that frame has zero area. */
  empty?: boolean;
  /** Recorded prompts: the object score logit of the resulting mask (> 0: present). */
  objectScore?: number;
}

/** One stored prompt of a recorded session as the player draws it (video pixels). */
export interface PromptInfo {
  promptId: number;
  objectId: number;
  frame: number;
  kind: 'points' | 'box' | 'mask';
  /** Clicks (a mask prompt: none). */
  points: Point[];
  box?: [number, number, number, number];
}

/**
 * A recorded session's prompts and objects as they are now, sent after every request that changes
 * them (before its ack) and right after `sessionStarted` of openSession / resume. The player draws
 * prompts from this list only. `objects`: the live ones; `canUndo` / `canRedo`: whether `undo` /
 * `redo` has an edit to take.
 */
export interface PromptsMessage {
  v: 1;
  type: 'prompts';
  seq: number | null;
  sessionId: string;
  prompts: PromptInfo[];
  objects: { objectId: number; label: string }[];
  canUndo: boolean;
  canRedo: boolean;
}

export interface PropagateProgress {
  v: 1;
  type: 'propagateProgress';
  seq: number;
  sessionId: string;
  done: number;
  total: number;
}

export interface PropagateDone {
  v: 1;
  type: 'propagateDone';
  seq: number;
  sessionId: string;
  frames: number;
  cancelled: boolean;
}

export interface LiveStats {
  v: 1;
  type: 'liveStats';
  seq: null;
  sessionId: string;
  framesIn: number;
  framesSent: number;
  drops: number;
  /** Milliseconds one frame spent in the tracker (last frame). */
  trackMs: number;
}

/**
 * An object was removed from a session (live: by any client watching the source, since they
 * share the tracker's objects). No more masks come for it.
 */
export interface ObjectRemoved {
  v: 1;
  type: 'objectRemoved';
  seq: null;
  sessionId: string;
  objectId: number;
}

export interface ErrorMessage {
  v: 1;
  type: 'error';
  code: string;
  message: string;
  /** The failed request's seq, or null when the message could not be parsed that far. */
  seq: number | null;
}

/**
 * A recorded clip being made ready for playback in the background (hashing the file, packaging
 * HLS) while its session already works: prompts and propagation need neither. Sent to the
 * session's client while it runs and once at the end (`ready` or `failed`). A client may ignore
 * it: the HLS playlist request waits for the package, as it always did.
 */
export interface ClipProgress {
  v: 1;
  type: 'clipProgress';
  seq: null;
  sessionId: string;
  clip: string;
  stage: 'hash' | 'package' | 'ready' | 'failed';
  /** Fraction of the stage done (0..1), or null when unknown (packaging). */
  fraction: number | null;
  /** `failed`: the error's code. */
  code?: string;
}

export type ServerMessage = SessionStarted | Ack | PromptsMessage | PropagateProgress | PropagateDone | LiveStats | ObjectRemoved | ErrorMessage | ClipProgress;

/**
 * Validates one client text message. Returns the message or an error reply (never throws): bad
 * JSON → E_PROTOCOL_JSON, wrong shape → E_PROTOCOL_INVALID, too large → E_MESSAGE_TOO_LARGE.
 */
export function parseClientMessage(text: string): { ok: true; msg: ClientMessage } | { ok: false; error: ErrorMessage } {
  if (text.length > MAX_TEXT_MESSAGE_BYTES) return { ok: false, error: errorMessage('E_MESSAGE_TOO_LARGE', `message of ${text.length} bytes exceeds ${MAX_TEXT_MESSAGE_BYTES}`, null) };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: errorMessage('E_PROTOCOL_JSON', `not JSON: ${(e as Error).message}`, null) };
  }
  const s = typeof raw === 'object' && raw !== null ? (raw as { seq?: unknown }).seq : undefined;
  const seqOf = typeof s === 'number' && Number.isInteger(s) && s >= 0 ? s : null;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && 'v' in raw && raw.v !== PROTOCOL_VERSION) {
    return { ok: false, error: errorMessage('E_PROTOCOL_VERSION', `protocol version must be ${PROTOCOL_VERSION}`, seqOf) };
  }
  const r = ClientMessageSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? issue.path.join('.') + ': ' : '';
    return { ok: false, error: errorMessage('E_PROTOCOL_INVALID', `${where}${issue?.message ?? 'invalid message'}`, seqOf) };
  }
  return { ok: true, msg: r.data };
}

export function errorMessage(code: string, message: string, seq: number | null): ErrorMessage {
  return { v: PROTOCOL_VERSION, type: 'error', code, message, seq };
}

// ---- binary frames ----

/** First byte of every binary message. */
export const BinaryKind = { mask: 1, frame: 2, picture: 3 } as const;

/**
 * Mask header (little-endian), 40 bytes:
 *   u8 kind=1, u8 version, u16 stability, u32 session handle, u32 frame index, u32 object id,
 *   f64 PTS µs, u32 width, u32 height, f32 object score logit, u32 count of RLE counts;
 * then that many u32 COCO RLE counts (column-major, background first).
 * `stability` is SAM 2's stability score of the mask (`_get_stability_scores`: the area of the
 * low-res logits > +delta over the area > -delta, delta = the bundle's
 * dynamicMultimaskStabilityDelta, 0.05) as round(s * 65534) + 1, or 0 when unknown (a stored mask
 * resent, where the logits are gone). The field was a reserved 0 before, so old senders read as unknown.
 */
export const MASK_HEADER_BYTES = 40;
/**
 * Live frame header (little-endian), 48 bytes:
 *   u8 kind=2, u8 version, u16 reserved, u32 session handle, u32 frame index, u32 drops so far,
 *   f64 PTS µs, f64 source time (ms since the Unix epoch, when the frame left the decoder),
 *   u32 width, u32 height, u32 objects (mask messages sent before this frame for it),
 *   u32 server time in µs (source → sent: queueing, tracking, encoding);
 * then the JPEG bytes, or none when the picture went ahead in a picture message.
 */
export const FRAME_HEADER_BYTES = 48;
/**
 * Live picture header (little-endian), 12 bytes: u8 kind=3, u8 version, u16 reserved,
 * u32 session handle, u32 frame index; then the JPEG bytes. The server sends a frame's picture
 * as soon as it is encoded, while the frame is still being tracked, so the browser decodes it in
 * the meantime; the frame message (masks before it) still says when the frame is complete.
 */
export const PICTURE_HEADER_BYTES = 12;

export interface LivePicture {
  handle: number;
  frame: number;
  jpeg: Uint8Array;
}

export interface MaskFrame {
  handle: number;
  frame: number;
  objectId: number;
  ptsUs: number;
  width: number;
  height: number;
  score: number;
  /** Stability score in [0, 1] (see the header layout); undefined when unknown. */
  stability?: number;
  counts: Uint32Array | readonly number[];
}

export interface LiveFrame {
  handle: number;
  frame: number;
  drops: number;
  ptsUs: number;
  sourceMs: number;
  width: number;
  height: number;
  objects: number;
  /** µs the frame spent in the server, from the decoder to the socket (0 when unknown). */
  serverUs?: number;
  /** Empty when the picture was sent ahead (see LivePicture). */
  jpeg: Uint8Array;
}

/**
 * A clock in ms since the Unix epoch that follows the system clock with sub-ms steps: Date.now()
 * re-read once a second, performance.now() in between. The server stamps live frames' `sourceMs`
 * with it and the player takes paint times with it. `performance.timeOrigin + now()` would not do:
 * the monotonic clock drifts from the system clock by tens of ppm here, so a server that has run for
 * minutes and a page opened a moment ago disagree by milliseconds (seen: 11 ms after 5 minutes).
 */
export function createWallClock(): () => number {
  let wall = Date.now();
  let mono = performance.now();
  return () => {
    const now = performance.now();
    if (now - mono >= 1000) {
      wall = Date.now();
      mono = now;
    }
    return wall + (now - mono);
  };
}

/** The first 12 bytes every binary message shares: kind, version, reserved, session handle, frame index. */
function writeHead(dv: DataView, kind: number, handle: number, frame: number): void {
  dv.setUint8(0, kind);
  dv.setUint8(1, PROTOCOL_VERSION);
  dv.setUint32(4, handle, true);
  dv.setUint32(8, frame, true);
}

/** Encodes a mask message. */
export function encodeMaskFrame(m: MaskFrame): Uint8Array {
  const n = m.counts.length;
  const buf = new ArrayBuffer(MASK_HEADER_BYTES + 4 * n);
  const dv = new DataView(buf);
  writeHead(dv, BinaryKind.mask, m.handle, m.frame);
  dv.setUint32(12, m.objectId, true);
  dv.setFloat64(16, m.ptsUs, true);
  dv.setUint32(24, m.width, true);
  dv.setUint32(28, m.height, true);
  dv.setFloat32(32, m.score, true);
  dv.setUint32(36, n, true);
  const st = m.stability;
  if (st !== undefined && Number.isFinite(st)) dv.setUint16(2, Math.round(Math.min(Math.max(st, 0), 1) * 65534) + 1, true);
  for (let i = 0; i < n; i++) dv.setUint32(MASK_HEADER_BYTES + 4 * i, m.counts[i]!, true);
  return new Uint8Array(buf);
}

/** Encodes a live frame message around an already encoded JPEG. */
export function encodeLiveFrame(f: LiveFrame): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + f.jpeg.length);
  const dv = new DataView(out.buffer);
  writeHead(dv, BinaryKind.frame, f.handle, f.frame);
  dv.setUint32(12, f.drops, true);
  dv.setFloat64(16, f.ptsUs, true);
  dv.setFloat64(24, f.sourceMs, true);
  dv.setUint32(32, f.width, true);
  dv.setUint32(36, f.height, true);
  dv.setUint32(40, f.objects, true);
  dv.setUint32(44, Math.max(0, Math.min(0xffff_ffff, Math.round(f.serverUs ?? 0))), true);
  out.set(f.jpeg, FRAME_HEADER_BYTES);
  return out;
}

/** Encodes a live picture message (a frame's JPEG sent ahead of its masks). */
export function encodeLivePicture(p: LivePicture): Uint8Array {
  const out = new Uint8Array(PICTURE_HEADER_BYTES + p.jpeg.length);
  const dv = new DataView(out.buffer);
  writeHead(dv, BinaryKind.picture, p.handle, p.frame);
  out.set(p.jpeg, PICTURE_HEADER_BYTES);
  return out;
}

/**
 * Thrown by the binary decoders; `code` matches the server's error codes: E_PROTOCOL_VERSION for a
 * message of another protocol version (its layout may differ, so nothing after the version byte
 * is read), E_PROTOCOL_BINARY for anything else that is not what its kind byte says.
 */
export class BinaryFrameError extends Error {
  constructor(
    readonly code: 'E_PROTOCOL_BINARY' | 'E_PROTOCOL_VERSION',
    message: string,
  ) {
    super(message);
  }
}

function view(data: ArrayBuffer | ArrayBufferView): DataView {
  return data instanceof ArrayBuffer ? new DataView(data) : new DataView(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The checks every binary decoder starts with: its kind, this protocol version, then a whole
 * header. The version comes before the length: another version's header may be of another size,
 * and "wrong version" is what the reader needs to hear (reload the page, update the server).
 */
function checkHead(dv: DataView, kind: number, headerBytes: number, name: string): void {
  if (dv.byteLength < 2 || dv.getUint8(0) !== kind) throw new BinaryFrameError('E_PROTOCOL_BINARY', `not a ${name} message`);
  const v = dv.getUint8(1);
  if (v !== PROTOCOL_VERSION) throw new BinaryFrameError('E_PROTOCOL_VERSION', `${name} message version ${v}; this side speaks protocol version ${PROTOCOL_VERSION}`);
  if (dv.byteLength < headerBytes) throw new BinaryFrameError('E_PROTOCOL_BINARY', `not a ${name} message: ${dv.byteLength} bytes, its header is ${headerBytes}`);
}

/** Which binary message this is (by its first byte), or null when unknown/empty. */
export function binaryKind(data: ArrayBuffer | ArrayBufferView): 'mask' | 'frame' | 'picture' | null {
  const dv = view(data);
  if (dv.byteLength < 1) return null;
  const k = dv.getUint8(0);
  return k === BinaryKind.mask ? 'mask' : k === BinaryKind.frame ? 'frame' : k === BinaryKind.picture ? 'picture' : null;
}

/**
 * Decodes a mask message; checks the header and that the counts add up to width x height.
 * @throws BinaryFrameError E_PROTOCOL_VERSION, E_PROTOCOL_BINARY
 */
export function decodeMaskFrame(data: ArrayBuffer | ArrayBufferView): MaskFrame & { counts: Uint32Array } {
  const dv = view(data);
  checkHead(dv, BinaryKind.mask, MASK_HEADER_BYTES, 'mask');
  const n = dv.getUint32(36, true);
  if (dv.byteLength !== MASK_HEADER_BYTES + 4 * n) throw new BinaryFrameError('E_PROTOCOL_BINARY', `mask message is ${dv.byteLength} bytes, header says ${MASK_HEADER_BYTES + 4 * n}`);
  const width = dv.getUint32(24, true);
  const height = dv.getUint32(28, true);
  const counts = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += counts[i] = dv.getUint32(MASK_HEADER_BYTES + 4 * i, true);
  if (total !== width * height) throw new BinaryFrameError('E_PROTOCOL_BINARY', `RLE counts cover ${total} pixels, mask is ${width}x${height}`);
  const st = dv.getUint16(2, true);
  return {
    ...(st === 0 ? {} : { stability: (st - 1) / 65534 }),
    handle: dv.getUint32(4, true),
    frame: dv.getUint32(8, true),
    objectId: dv.getUint32(12, true),
    ptsUs: dv.getFloat64(16, true),
    width,
    height,
    score: dv.getFloat32(32, true),
    counts,
  };
}

/**
 * Decodes a live frame message (the JPEG is a view into `data`).
 * @throws BinaryFrameError E_PROTOCOL_VERSION (another protocol version), E_PROTOCOL_BINARY
 */
export function decodeLiveFrame(data: ArrayBuffer | ArrayBufferView): LiveFrame {
  const dv = view(data);
  checkHead(dv, BinaryKind.frame, FRAME_HEADER_BYTES, 'frame');
  return {
    handle: dv.getUint32(4, true),
    frame: dv.getUint32(8, true),
    drops: dv.getUint32(12, true),
    ptsUs: dv.getFloat64(16, true),
    sourceMs: dv.getFloat64(24, true),
    width: dv.getUint32(32, true),
    height: dv.getUint32(36, true),
    objects: dv.getUint32(40, true),
    serverUs: dv.getUint32(44, true),
    jpeg: new Uint8Array(dv.buffer, dv.byteOffset + FRAME_HEADER_BYTES, dv.byteLength - FRAME_HEADER_BYTES),
  };
}

/**
 * Decodes a live picture message (the JPEG is a view into `data`).
 * @throws BinaryFrameError E_PROTOCOL_VERSION, E_PROTOCOL_BINARY
 */
export function decodeLivePicture(data: ArrayBuffer | ArrayBufferView): LivePicture {
  const dv = view(data);
  checkHead(dv, BinaryKind.picture, PICTURE_HEADER_BYTES, 'picture');
  return {
    handle: dv.getUint32(4, true),
    frame: dv.getUint32(8, true),
    jpeg: new Uint8Array(dv.buffer, dv.byteOffset + PICTURE_HEADER_BYTES, dv.byteLength - PICTURE_HEADER_BYTES),
  };
}
