/**
 * Stored sessions coming back to a server: what GET /api/sessions lists, what `openSession`
 * rebuilds a {@link RecordedSession} from, and what a server does at start with the sessions a
 * crashed run left open. Everything is read from the store (store/annotation-store.ts); the tracker
 * side (memory rebuilt from the stored masks, lazily) is RecordedSession.restore.
 *
 * Status model of a session made by `cineseg serve` (the store's status column):
 * - `open`: a server process holds it now. Only one may: openSession refuses an open one
 *   (E_SESSION_BUSY), whether this server holds it or another process does.
 * - `closed`: nobody holds it and it can be reopened: the client closed it, its client left and
 *   its work was finished, the server stopped, or — an orphan — the server holding it died
 *   (kill -9, power loss); then meta `orphanedAt` says when the next server found it.
 * - `done`: written by `cineseg batch` when it finished a clip; batch and track sessions are
 *   listed but not reopened here (a later batch run decides from their status what to redo).
 * Live records (clip hash `live:<id>`) are listed but not reopened: their pictures were not kept.
 */
import { ownerAlive } from './session-owner.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { stringToCounts } from '../mask/rle.js';
import { encodeMaskFrame, type RestoredSession, type ServerMessage } from '../protocol.js';
import { hashClip } from '../store/register-clip.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import type { MaskOrigin, SessionRecord } from '../store/session-store.js';
import type { SinkPrompt, SinkSupport, StoredMask } from './annotation-sink.js';
import type { SamOptions } from '../track/tracking-engine.js';
import type { CatalogClip, ClipCatalog } from './clip-catalog.js';
import { checkedRealpath } from './path-jail.js';
import type { DetachableOutput, SessionOutput } from './session-output.js';

/** Stored masks resent per run, each run after the socket drained. */
const RESEND_RUN = 64;

/** The tool name StoreSink writes into the meta of the sessions a server makes. */
export const SERVE_TOOL = 'cineseg serve';

/**
 * A stored session as a tracker takes it back: prompts in the order applied, current masks (COCO
 * counts at the clip's size, score as the tracker's logit), labels and support. The same shape as
 * recorded-session.ts's RestoredState (structural: this file does not import the tracker).
 */
export interface StoredSessionState {
  /** In effect, with their stored ids. */
  prompts: SinkPrompt[];
  /** The session's other prompts (taken back, or of removed objects): what undo / redo may put back. */
  dormant?: SinkPrompt[];
  /** Live objects with their labels. */
  objects?: { objectId: number; label: string }[];
  masks: { objectId: number; frame: number; counts: readonly number[]; score: number; origin: 'prompt' | 'propagate' }[];
  labels?: Record<number, string>;
  support?: SinkSupport[];
  promptVersion?: number;
  /** The SAM 2 flags the session was tracked with (stored at its start), so a reopen tracks alike. */
  sam?: SamOptions;
}

/** One row of GET /api/sessions. */
export interface StoredSessionInfo {
  id: string;
  kind: 'recorded' | 'live';
  /** The catalog id of its clip, or null when no media folder of this server holds the file. */
  clip: string | null;
  /** The clip file's name (never its folder: replies name clips, not paths). */
  clipName: string;
  status: SessionRecord['status'];
  objects: number;
  maskedFrames: number;
  numFrames: number;
  promptVersion: number;
  createdAt: string;
  updatedAt: string;
  /** Whether openSession can take it now. */
  reopenable: boolean;
}

/** The newest stored sessions first (at most `limit`), with the clip ids this server knows them by. */
export async function listStoredSessions(store: AnnotationStore, catalog: ClipCatalog, limit = 500): Promise<StoredSessionInfo[]> {
  const byPath = await catalogByRealpath(catalog);
  return (await store.sessionSummaries()).slice(0, limit).map((s) => {
    const live = s.meta.live === true || s.clipPath.includes('://') || s.clipPath === '-';
    const clip = live ? null : storedClipId(byPath, s.clipPath);
    return {
      id: s.id,
      kind: live ? 'live' : 'recorded',
      clip,
      clipName: live ? 'live' : s.clipPath.split(/[\\/]/).slice(-2).join('/') || s.clipPath,
      status: s.status,
      objects: s.objects,
      maskedFrames: s.maskedFrames,
      numFrames: s.numFrames,
      promptVersion: s.promptVersion,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
      reopenable: !live && clip !== null && s.meta.tool === SERVE_TOOL && (s.status === 'closed' || (s.status === 'open' && !ownerAlive(s.meta))),
    } satisfies StoredSessionInfo;
  });
}

/**
 * Marks the sessions a previous server left `open` as `closed` (see the status model): those whose
 * server is gone (session-owner.ts: its process is dead, or its heartbeat stale). Sessions another
 * live server holds on the same store stay open, and so do sessions of other tools (a batch may be
 * running beside the server). Returns the ids closed.
 */
export async function closeOrphans(store: AnnotationStore): Promise<string[]> {
  const out: string[] = [];
  const at = new Date().toISOString();
  for (const s of await store.openSessions()) {
    // A session another live server holds (one store shared by several servers) is theirs.
    if (s.meta.tool !== SERVE_TOOL || ownerAlive(s.meta)) continue;
    await store.transaction(async (tx) => {
      await tx.updateSessionMeta(s.id, { orphanedAt: at });
      await tx.setSessionStatus(s.id, 'closed');
    });
    out.push(s.id);
  }
  return out;
}

/**
 * The stored session `id` as a tracker takes it back, after checking it may be reopened: a
 * recorded session of this server, not held by anyone, whose clip is in a media folder of this
 * server and still holds the stored bytes (masks laid on other pixels would be wrong silently).
 * @throws CinesegError E_SESSION_UNKNOWN, E_SESSION_BUSY (open), E_TRACKER_STATE (live, or not a
 *   server session), E_CLIP_UNKNOWN (its clip is in no media folder), E_INPUT_NOT_FOUND (changed)
 */
export async function loadForReopen(store: AnnotationStore, catalog: ClipCatalog, id: string): Promise<{ clip: CatalogClip; state: StoredSessionState; summary: RestoredSession }> {
  const session = await store.requireSession(id);
  const stored = (await store.getClip(session.clipId))!;
  // Open and held by a live server, or by another tool (a batch running): busy. A server session
  // whose server is gone (killed, its machine lost) is reopened here at once, not after that
  // server's next start.
  if (session.status === 'open' && (session.meta.tool !== SERVE_TOOL || ownerAlive(session.meta))) {
    throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open elsewhere (another connection or server holds it)`, { details: { sessionId: id } });
  }
  if (stored.contentHash.startsWith('live:'))
    throw new CinesegError(ErrorCode.E_TRACKER_STATE, `session "${id}" is a live record: its pictures were not kept, so it cannot be reopened (export it instead)`);
  if (session.meta.tool !== SERVE_TOOL) {
    throw new CinesegError(ErrorCode.E_TRACKER_STATE, `session "${id}" was made by ${String(session.meta.tool ?? 'another tool')}; only sessions of cineseg serve are reopened (export it instead)`);
  }
  const clipId = storedClipId(await catalogByRealpath(catalog), stored.path);
  if (!clipId) throw new CinesegError(ErrorCode.E_CLIP_UNKNOWN, `the clip of session "${id}" is in no media folder of this server`, { details: { sessionId: id } });
  const real = await catalog.get(clipId);
  if ((await hashClip(real.path)) !== stored.contentHash) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `the clip of session "${id}" (${clipId}) now holds other bytes than when the session was stored`);
  }
  const state = await storedSessionState(store, id);
  return { clip: real, state, summary: await restoredSummary(store, id, state) };
}

/** Reads a stored session into {@link StoredSessionState} (no checks; see {@link loadForReopen}). */
export async function storedSessionState(store: AnnotationStore, id: string): Promise<StoredSessionState> {
  const session = await store.requireSession(id);
  const liveObjects = await store.listObjects(id);
  const live = new Set(liveObjects.map((o) => o.objectId));
  // A removed object's prompts and masks are left out, as RecordedSession.removeObject drops them;
  // an id used again after its removal keeps only what came after (store meta `removals`).
  const removals = (session.meta.removals ?? {}) as Record<string, number>;
  const after = (objectId: number, version: number) => version > (removals[objectId] ?? 0);
  const prompts: SinkPrompt[] = [];
  const dormant: SinkPrompt[] = [];
  // Prompts taken back (removePrompt, clearFrame, an undone add) are not in effect either.
  const takenBack = await store.history.removedPromptIds(id);
  for (const p of await store.listPrompts(id)) {
    const to = !live.has(p.objectId) || !after(p.objectId, p.version) || takenBack.has(p.id) ? dormant : prompts;
    if (p.kind === 'points') to.push({ kind: 'points', objectId: p.objectId, frame: p.frame, points: p.points.map(point), clearOld: p.clearOld !== false, promptId: p.id });
    else if (p.kind === 'box') to.push({ kind: 'box', objectId: p.objectId, frame: p.frame, box: p.box, points: (p.points ?? []).map(point), promptId: p.id });
    else to.push({ kind: 'mask', objectId: p.objectId, frame: p.frame, counts: countsOf(p.mask.counts), promptId: p.id });
  }
  const masks = (await store.currentMasks(id))
    .filter((m) => after(m.objectId, m.promptVersion))
    .map((m) => ({
      objectId: m.objectId,
      frame: m.frame,
      counts: countsOf(m.rle.counts),
      score: logit(m.score),
      origin: originOnWire(m.origin),
    }));
  const labels: Record<number, string> = {};
  for (const o of liveObjects) if (o.label !== 'object') labels[o.objectId] = o.label;
  const support = Array.isArray(session.meta.support) ? (session.meta.support as SinkSupport[]) : [];
  const sam = session.meta.sam && typeof session.meta.sam === 'object' ? (session.meta.sam as SamOptions) : undefined;
  const objects = liveObjects.map((o) => ({ objectId: o.objectId, label: o.label }));
  return { prompts, dormant, objects, masks, labels, support, promptVersion: session.promptVersion, ...(sam ? { sam } : {}) };
}

/** What the player is told in `sessionStarted.restored`. */
export async function restoredSummary(store: AnnotationStore, id: string, state: StoredSessionState): Promise<RestoredSession> {
  return {
    objects: (await store.listObjects(id)).map((o) => ({ objectId: o.objectId, label: o.label })),
    prompts: state.prompts.flatMap((p): RestoredSession['prompts'] => {
      const promptId = p.promptId ?? 0;
      if (p.kind === 'points') return [{ promptId, kind: 'points' as const, objectId: p.objectId, frame: p.frame, points: p.points.map(point) }];
      return p.kind === 'box' ? [{ promptId, kind: 'box' as const, objectId: p.objectId, frame: p.frame, points: p.points.map(point), box: p.box }] : [];
    }),
    masks: state.masks.length,
  };
}

/**
 * Gives a reopened session to its client: `reply` first (the player keys masks by the handle it
 * carries), then the stored masks, in runs that wait for the socket to drain (an hour of masks
 * must neither queue without bound nor hold other sockets up). The session's output is attached
 * right after the reply, through a tap that notes the masks the session sends itself (on attach,
 * or for a prompt the client sent at once): those are as new or newer than the stored ones and
 * are not sent twice.
 */
export async function deliverReopened(
  s: { handle: number; width: number; height: number; framePtsUs: readonly number[]; output: DetachableOutput },
  out: SessionOutput,
  reply: ServerMessage,
  /** The stored masks, or how to read them: read after `out` is attached, so none sent meanwhile is missed. */
  stored: readonly StoredMask[] | (() => Promise<readonly StoredMask[]>),
  /** False once the session was handed to another connection meanwhile (a resume): its output is left alone. */
  stillMine: () => boolean = () => true,
): Promise<void> {
  const sentLive = new Set<string>();
  const tap: SessionOutput = {
    json: (m) => out.json(m),
    binary: (d) => {
      // Mask header: kind 1, frame at byte 8, object id at byte 12 (protocol.ts).
      if (d[0] === 1 && d.byteLength >= 16) {
        const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
        sentLive.add(`${dv.getUint32(12, true)}:${dv.getUint32(8, true)}`);
      }
      out.binary(d);
    },
    drained: () => out.drained?.() ?? Promise.resolve(),
  };
  try {
    out.json(reply);
    s.output.attach(tap);
    const masks = typeof stored === 'function' ? await stored() : stored;
    let n = 0;
    for (const m of masks) {
      if (sentLive.has(`${m.objectId}:${m.frame}`)) continue;
      out.binary(encodeMaskFrame({ handle: s.handle, frame: m.frame, objectId: m.objectId, ptsUs: s.framePtsUs[m.frame] ?? 0, width: s.width, height: s.height, score: m.score, counts: m.counts }));
      if (++n % RESEND_RUN === 0) await (out.drained?.() ?? new Promise<void>((r) => setImmediate(r)));
    }
  } finally {
    if (stillMine()) s.output.attach(out);
  }
}

async function catalogByRealpath(catalog: ClipCatalog): Promise<Map<string, CatalogClip>> {
  const out = new Map<string, CatalogClip>();
  for (const c of await catalog.scan()) {
    const real = await checkedRealpath(c.rootReal, c.volumeFile ?? c.path);
    if (real !== null && !out.has(real)) out.set(real, { ...c, path: c.volumeFile ? `${real}#axial` : real });
  }
  return out;
}

/**
 * The catalog id of a stored clip path. A volume view is stored as `<file>#<plane>[:<window>]`
 * (its own clip: other slices): found through its file, with the same view on the catalog's id.
 */
function storedClipId(byPath: Map<string, CatalogClip>, stored: string): string | null {
  const direct = byPath.get(stored);
  if (direct) return direct.id;
  const at = stored.lastIndexOf('#');
  if (at < 0) return null;
  const base = byPath.get(stored.slice(0, at));
  if (!base?.volumeFile) return null;
  return `${base.id.slice(0, base.id.lastIndexOf('#'))}${stored.slice(at)}`;
}

function point(p: { x: number; y: number; label?: number }): { x: number; y: number; label: 0 | 1 } {
  return { x: p.x, y: p.y, label: p.label === 0 ? 0 : 1 };
}

function countsOf(c: string | readonly number[]): number[] {
  return typeof c === 'string' ? stringToCounts(c) : [...c];
}

/** The store keeps a presence probability (StoreSink: sigmoid of the logit); the wire and tracker want the logit. */
function logit(p: number | null): number {
  if (p === null) return 0;
  const q = Math.min(Math.max(p, 1e-7), 1 - 1e-7);
  return Math.log(q / (1 - q));
}

function originOnWire(o: MaskOrigin): 'prompt' | 'propagate' {
  // Imported and edited masks were given, not tracked: conditioning, like a prompt's mask.
  return o === 'propagate' ? 'propagate' : 'prompt';
}
