/**
 * Where the server puts prompts and masks before it acknowledges them. The server only sends a
 * mask to a client after `putMasks` resolved for it, so a sink backed by a database gives the
 * client the guarantee "what I saw is stored". {@link MemorySink} keeps everything in memory
 * (tests, and servers started without a store).
 */
import type { PropagateDirection } from '../protocol.js';

export interface SinkSession {
  sessionId: string;
  kind: 'recorded' | 'live';
  /** Clip file (recorded) or live input. */
  source: string;
  width: number;
  height: number;
  fps: number;
  numFrames: number | null;
}

export type SinkPrompt =
  | { kind: 'points'; objectId: number; frame: number; points: { x: number; y: number; label: number }[]; clearOld: boolean }
  | { kind: 'box'; objectId: number; frame: number; box: [number, number, number, number]; points: { x: number; y: number; label: number }[] }
  | { kind: 'mask'; objectId: number; frame: number; counts: number[] };

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

export interface AnnotationSink {
  startSession(s: SinkSession): Promise<void>;
  putPrompt(sessionId: string, p: SinkPrompt): Promise<void>;
  /** Resolves once the masks are durable; only then may they be sent. */
  putMasks(sessionId: string, masks: readonly SinkMask[]): Promise<void>;
  removeObject(sessionId: string, objectId: number): Promise<void>;
  /** Names an object (its label in the store and in exports); before its first prompt, the name waits for it. */
  labelObject(sessionId: string, objectId: number, label: string): Promise<void>;
  closeSession(sessionId: string): Promise<void>;
  destroy(): Promise<void>;
}

/** An {@link AnnotationSink} in memory: the latest mask per (session, object, frame). */
export class MemorySink implements AnnotationSink {
  readonly sessions = new Map<string, { info: SinkSession; prompts: SinkPrompt[]; masks: Map<string, SinkMask>; labels: Map<number, string>; closed: boolean }>();

  async startSession(s: SinkSession): Promise<void> {
    this.sessions.set(s.sessionId, { info: s, prompts: [], masks: new Map(), labels: new Map(), closed: false });
  }

  async putPrompt(sessionId: string, p: SinkPrompt): Promise<void> {
    this.sessions.get(sessionId)?.prompts.push(p);
  }

  async putMasks(sessionId: string, masks: readonly SinkMask[]): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    for (const m of masks) s.masks.set(`${m.objectId}:${m.frame}`, m);
  }

  async removeObject(sessionId: string, objectId: number): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    for (const [k, m] of s.masks) if (m.objectId === objectId) s.masks.delete(k);
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
