/**
 * Where the server puts prompts and masks before it acknowledges them. The server only sends a
 * mask to a client after `putMasks` resolved for it, so a sink backed by a database gives the
 * client the guarantee "what I saw is stored". A write that did not commit rejects (E_STORE_WRITE)
 * and the request it belongs to fails: a sink never drops a write silently. {@link MemorySink} keeps everything in memory
 * (tests, and servers started without a store).
 */
import { CinesegError, ErrorCode } from '../errors.js';
import type { Rle } from '../mask/rle.js';
import type { VisAnnotation, VisJson } from '../mask/vis-json.js';
import type { PropagateDirection } from '../protocol.js';
import type { EditLog } from './edit-log.js';

export interface SinkSession {
  sessionId: string;
  kind: 'recorded' | 'live';
  /** Clip file (recorded) or live input. */
  source: string;
  width: number;
  height: number;
  fps: number;
  numFrames: number | null;
  /** Facts kept with the session's record (recorded: its SAM 2 flags, so a reopen tracks as before). */
  meta?: Record<string, unknown>;
}

/** `promptId`: the stored prompt's id, once stored (what putPrompt returned). */
export type SinkPrompt =
  | { kind: 'points'; objectId: number; frame: number; points: { x: number; y: number; label: number }[]; clearOld: boolean; promptId?: number }
  | { kind: 'box'; objectId: number; frame: number; box: [number, number, number, number]; points: { x: number; y: number; label: number }[]; promptId?: number }
  | { kind: 'mask'; objectId: number; frame: number; counts: number[]; promptId?: number };

export interface SinkMask {
  objectId: number;
  frame: number;
  ptsUs: number;
  score: number;
  /** COCO counts at the session's width x height. */
  counts: readonly number[];
  origin: 'prompt' | 'propagate';
  direction?: PropagateDirection;
}

/**
 * One `addSupport` as stored with its session (the store keeps the list in session meta
 * `support`): what a session rebuilt from the store needs to take the same support again.
 */
export interface SinkSupport {
  fromSession: string;
  /** The source session's object ids that gave memories. */
  objectIds: number[];
  /** All of them pooled into this object; absent: each kept its own id. */
  targetObjectId?: number;
  /** Support frames per object. */
  frames: number;
  /** Each frame also filed mirrored; absent in records written before mirroring existed (= false). */
  mirror?: boolean;
  /** The source's prompt version when its masks were read (a later correction there changes them). */
  sourcePromptVersion?: number;
}

/** A current mask as a sink gives it back (a resumed client's resend). */
export interface StoredMask {
  objectId: number;
  frame: number;
  /** Object score logit, as the tracker gave it. */
  score: number;
  /** COCO counts at the session's width x height. */
  counts: readonly number[];
}

/** A stored session's clip file and current masks, to be support of another session. */
export interface SupportSource {
  clip: string;
  masks: VisJson;
  promptVersion?: number;
}

export interface AnnotationSink {
  startSession(s: SinkSession): Promise<void>;
  /** Resolves with the stored prompt's id (unique in the session), or nothing for a sink without ids. */
  putPrompt(sessionId: string, p: SinkPrompt): Promise<number | void>;
  /** Resolves once the masks are durable; only then may they be sent. */
  putMasks(sessionId: string, masks: readonly SinkMask[]): Promise<void>;
  removeObject(sessionId: string, objectId: number): Promise<void>;
  /** Names an object (its label in the store and in exports); before its first prompt, the name waits for it. */
  labelObject(sessionId: string, objectId: number, label: string): Promise<void>;
  closeSession(sessionId: string): Promise<void>;
  destroy(): Promise<void>;
  /**
   * A session this sink holds, as support. Optional (older sinks): without it and
   * `setSupport` a server refuses addSupport.
   * @throws CinesegError E_SESSION_UNKNOWN, E_PROMPT_INVALID (a live session: no clip file)
   */
  supportSource?(sessionId: string): Promise<SupportSource>;
  /** Stores the session's support as it is now (the whole list, replacing the earlier one). */
  setSupport?(sessionId: string, support: readonly SinkSupport[]): Promise<void>;
  /** The session's current mask per (object, frame), objects in id order (a resumed client gets them again). */
  currentMasks?(sessionId: string): Promise<StoredMask[]>;
  /** Where undo / redo and the prompts taken back are kept (server/prompt-history.ts); absent: in the session's memory. */
  readonly edits?: EditLog;
  /** Before removeObject: what reviveObject needs to undo it (opaque, JSON). */
  removalMark?(sessionId: string, objectId: number): Promise<unknown>;
  /** Undo of removeObject: the object, its prompts and masks in effect again, labelled `label`. */
  reviveObject?(sessionId: string, objectId: number, label: string, mark: unknown): Promise<void>;
}

/** An {@link AnnotationSink} in memory: the latest mask per (session, object, frame). */
export class MemorySink implements AnnotationSink {
  readonly sessions = new Map<
    string,
    { info: SinkSession; prompts: SinkPrompt[]; masks: Map<string, SinkMask>; labels: Map<number, string>; support: SinkSupport[]; closed: boolean; removedMasks?: Map<number, SinkMask[]> }
  >();

  async startSession(s: SinkSession): Promise<void> {
    this.sessions.set(s.sessionId, { info: s, prompts: [], masks: new Map(), labels: new Map(), support: [], closed: false });
  }

  /** A removed object's masks are kept aside until its removal is undone (or the object id is used again). */
  async reviveObject(sessionId: string, objectId: number, label: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    for (const m of s.removedMasks?.get(objectId) ?? []) s.masks.set(`${m.objectId}:${m.frame}`, m);
    s.removedMasks?.delete(objectId);
    if (label !== 'object') s.labels.set(objectId, label);
  }

  async supportSource(sessionId: string): Promise<SupportSource> {
    const s = this.sessions.get(sessionId);
    if (!s) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no stored session "${sessionId}"`, { details: { sessionId } });
    const { info } = s;
    if (info.kind === 'live' || info.numFrames === null) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `session "${sessionId}" is live: support needs a recorded clip`);
    const byObject = new Map<number, (Rle | null)[]>();
    for (const m of s.masks.values()) {
      let segs = byObject.get(m.objectId);
      if (!segs) byObject.set(m.objectId, (segs = new Array<Rle | null>(info.numFrames).fill(null)));
      segs[m.frame] = { size: [info.height, info.width], counts: [...m.counts] };
    }
    const annotations: VisAnnotation[] = [...byObject.keys()].sort((a, b) => a - b).map((id, i) => ({ id: i + 1, video_id: 1, object_id: id, category_id: 1, segmentations: byObject.get(id)! }));
    const video = { id: 1, width: info.width, height: info.height, length: info.numFrames, fps: info.fps, file: info.source };
    return { clip: info.source, masks: { videos: [video], categories: [{ id: 1, name: 'object' }], annotations } };
  }

  async setSupport(sessionId: string, support: readonly SinkSupport[]): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (s) s.support = support.map((r) => ({ ...r, objectIds: [...r.objectIds] }));
  }

  async putPrompt(sessionId: string, p: SinkPrompt): Promise<number | void> {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    s.prompts.push(p);
    return s.prompts.length;
  }

  async currentMasks(sessionId: string): Promise<StoredMask[]> {
    const s = this.sessions.get(sessionId);
    if (!s) return [];
    return [...s.masks.values()].sort((a, b) => a.objectId - b.objectId || a.frame - b.frame).map((m) => ({ objectId: m.objectId, frame: m.frame, score: m.score, counts: m.counts }));
  }

  async putMasks(sessionId: string, masks: readonly SinkMask[]): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    for (const m of masks) s.masks.set(`${m.objectId}:${m.frame}`, m);
  }

  async removeObject(sessionId: string, objectId: number): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    const kept: SinkMask[] = [];
    for (const [k, m] of s.masks) {
      if (m.objectId !== objectId) continue;
      kept.push(m);
      s.masks.delete(k);
    }
    (s.removedMasks ??= new Map()).set(objectId, kept);
  }

  async labelObject(sessionId: string, objectId: number, label: string): Promise<void> {
    this.sessions.get(sessionId)?.labels.set(objectId, label);
  }

  async closeSession(sessionId: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (s) s.closed = true;
  }

  async destroy(): Promise<void> {
    this.sessions.clear();
  }
}
