/**
 * The prompt history of a recorded session: every prompt by its stored id, in effect or taken
 * back, and the session's edits with undo / redo (issue 16). {@link SessionHistory} runs inside
 * the session's queue (recorded-session.ts) and keeps tracker, store and client in step; the
 * edits themselves are kept by an {@link EditLog}: the store's (store/prompt-history-store.ts,
 * survives a restart) or, for a sink without one, {@link MemoryEditLog}.
 *
 * Edits and what undo / redo do with them:
 * - `add` (addPoints / addBox / addMask, refinement clicks included): undo takes the prompt back,
 *   redo puts it in effect again.
 * - `remove` (removePrompt, clearFrame): the other way round.
 * - `rename`: the label before / after.
 * - `removeObject`: undo brings the object back with the prompts it had and its stored masks
 *   (the tracker rebuilds its memory from them lazily, as a reopened session does); redo removes
 *   it again. Support memories it had are not brought back (add the support again).
 *
 * A frame whose prompts of an object changed is run again from its prompts in effect, in the
 * order given, from a clean frame: SAM 2's `clear_all_prompts_in_frame` then the remaining
 * prompts re-added. So the frame is an initial conditioning frame again (decoded without memory);
 * a frame left without prompts stops being a conditioning frame and its mask is cleared (an empty
 * mask is stored and sent). Where SAM 2 keeps the cleared output as a non-conditioning one, this
 * drops it: it was the removed prompt's result. Tracked (non-prompted) frames' masks downstream
 * stay as they are until the next propagate: the player re-propagates from the edited frame.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { decodeMask } from '../mask/rle.js';
import { PROTOCOL_VERSION, type ClearFrame, type PromptInfo, type PromptsMessage, type Redo, type RemovePrompt, type Undo } from '../protocol.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import type { FrameOutput } from '../track/object-state.js';
import type { VideoTracker } from '../track/video-tracker.js';
import type { AnnotationSink, SinkPrompt, StoredMask } from './annotation-sink.js';
import type { Edit, EditLog } from './edit-log.js';

export type { Edit, EditLog } from './edit-log.js';

/** An {@link EditLog} in memory (a sink without a store). */
export class MemoryEditLog implements EditLog {
  private readonly edits = new Map<string, { id: number; edit: Edit; undone: boolean }[]>();
  private next = 1;

  private of(sessionId: string): { id: number; edit: Edit; undone: boolean }[] {
    let l = this.edits.get(sessionId);
    if (!l) this.edits.set(sessionId, (l = []));
    return l;
  }

  async push(sessionId: string, edit: Edit): Promise<void> {
    const l = this.of(sessionId).filter((e) => !e.undone);
    l.push({ id: this.next++, edit, undone: false });
    this.edits.set(sessionId, l);
  }

  async peek(sessionId: string, which: 'undo' | 'redo'): Promise<{ id: number; edit: Edit } | null> {
    const l = this.of(sessionId);
    const e = which === 'undo' ? l.filter((x) => !x.undone).at(-1) : l.find((x) => x.undone);
    return e ? { id: e.id, edit: e.edit } : null;
  }

  async mark(sessionId: string, id: number, undone: boolean): Promise<void> {
    const e = this.of(sessionId).find((x) => x.id === id);
    if (e) e.undone = undone;
  }

  async state(sessionId: string): Promise<{ canUndo: boolean; canRedo: boolean }> {
    const l = this.of(sessionId);
    return { canUndo: l.some((e) => !e.undone), canRedo: l.some((e) => e.undone) };
  }

  async setPromptsRemoved(): Promise<void> {
    // The session itself holds which prompts are in effect; nothing outlives it here.
  }
}

/** The store's {@link EditLog} (store/prompt-history-store.ts); a write that did not commit is E_STORE_WRITE, as StoreSink's. */
export function storeEditLog(store: AnnotationStore): EditLog {
  const h = store.history;
  const write = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new CinesegError(ErrorCode.E_STORE_WRITE, `storing ${what} failed, nothing of it was acknowledged: ${why}`, { cause: e });
    }
  };
  return {
    push: async (sid, edit) => void (await write('an edit', () => h.pushEdit(sid, edit.kind, edit))),
    peek: async (sid, which) => {
      const e = await h.peekEdit(sid, which);
      return e ? { id: e.id, edit: e.data as Edit } : null;
    },
    mark: (sid, id, undone) => write('an undo or redo', () => h.markEdit(sid, id, undone)),
    state: (sid) => h.editState(sid),
    setPromptsRemoved: (sid, ids, removed) => write('prompts taken back', () => h.setPromptsRemoved(sid, ids, removed)),
  };
}

/** A stored prompt as the player draws it. */
export function promptInfo(p: SinkPrompt & { promptId: number }): PromptInfo {
  const points = (q: { x: number; y: number; label: number }[]) => q.map((x) => ({ x: x.x, y: x.y, label: x.label === 0 ? (0 as const) : (1 as const) }));
  if (p.kind === 'mask') return { promptId: p.promptId, objectId: p.objectId, frame: p.frame, kind: 'mask', points: [] };
  if (p.kind === 'box') return { promptId: p.promptId, objectId: p.objectId, frame: p.frame, kind: 'box', points: points(p.points), box: p.box };
  return { promptId: p.promptId, objectId: p.objectId, frame: p.frame, kind: 'points', points: points(p.points) };
}

/** What a session lends its history (recorded-session.ts). */
export interface HistoryHost {
  readonly sessionId: string;
  readonly sink: AnnotationSink;
  readonly width: number;
  readonly height: number;
  tracker(): VideoTracker;
  /** The session's log: prompts in effect (with their ids) and support, in order; edited in place. */
  readonly steps: ({ kind: 'support' } | SinkPrompt)[];
  /** Applies a prompt to the tracker (no store, no client). */
  apply(p: SinkPrompt): Promise<FrameOutput>;
  /** Stores and sends masks from prompts; `output: null` is an empty mask (the frame cleared). */
  emit(items: { objectId: number; frame: number; output: FrameOutput | null }[]): Promise<void>;
  /** Sends stored masks again (an object brought back). */
  resend(masks: readonly StoredMask[]): Promise<void>;
  /** Removes an object from tracker, log and store (the session's removeObject, no history). */
  dropObject(objectId: number): Promise<void>;
  /** The session's client. */
  json(msg: PromptsMessage): void;
}

type Active = SinkPrompt & { promptId: number };

export class SessionHistory {
  /** Prompts known by id that are not in effect (taken back, or of a removed object). */
  private readonly dormant = new Map<number, SinkPrompt>();
  /** Names given (objects without one are 'object'). */
  private readonly labels = new Map<number, string>();
  /** Objects the session has now (prompts, masks or support), by id. */
  private readonly live = new Set<number>();
  private readonly log: EditLog;
  /** Prompt ids when the sink gives none. */
  private nextLocalId = 1;

  constructor(private readonly host: HistoryHost) {
    this.log = host.sink.edits ?? new MemoryEditLog();
  }

  /** A restored session: its dormant prompts, objects and labels (the prompts in effect are in the host's steps). */
  restore(dormant: readonly SinkPrompt[], objects: readonly { objectId: number; label: string }[]): void {
    for (const p of dormant) if (p.promptId !== undefined) this.dormant.set(p.promptId, p);
    for (const o of objects) this.live.add(o.objectId);
    for (const o of objects) if (o.label !== 'object') this.labels.set(o.objectId, o.label);
    for (const p of this.active()) this.live.add(p.objectId);
    const ids = [...this.active().map((p) => p.promptId), ...this.dormant.keys()];
    this.nextLocalId = Math.max(0, ...ids) + 1;
  }

  /** An object appeared (support). */
  addObject(objectId: number): void {
    this.live.add(objectId);
  }

  hasObject(objectId: number): boolean {
    return this.live.has(objectId);
  }

  /** A prompt was applied and stored (`storedId` from the sink): gives it its id and records the edit. */
  async added(p: SinkPrompt, storedId: number | void): Promise<number> {
    const id = typeof storedId === 'number' ? storedId : this.nextLocalId++;
    p.promptId = id;
    this.live.add(p.objectId);
    await this.log.push(this.host.sessionId, { kind: 'add', promptIds: [id] });
    return id;
  }

  /** A name was stored: records the edit. */
  async renamed(objectId: number, name: string): Promise<void> {
    const before = this.labels.get(objectId) ?? 'object';
    this.labels.set(objectId, name);
    await this.log.push(this.host.sessionId, { kind: 'rename', objectId, before, after: name });
  }

  /** removeObject with its edit recorded. @throws CinesegError E_OBJECT_UNKNOWN */
  async removeObject(objectId: number): Promise<void> {
    const h = this.host;
    if (!this.live.has(objectId) && !h.tracker().objectIds.includes(objectId)) {
      throw new CinesegError(ErrorCode.E_OBJECT_UNKNOWN, `object ${objectId} has no prompt or support in this session`);
    }
    const own = this.active().filter((p) => p.objectId === objectId);
    const mark = await h.sink.removalMark?.(h.sessionId, objectId);
    await h.dropObject(objectId);
    for (const p of own) this.dormant.set(p.promptId, p);
    this.live.delete(objectId);
    await this.log.push(h.sessionId, { kind: 'removeObject', objectId, promptIds: own.map((p) => p.promptId), label: this.labels.get(objectId) ?? 'object', mark: mark ?? null });
  }

  /**
   * removePrompt, clearFrame, undo or redo; resolves with the frame and object the ack names.
   * @throws CinesegError E_PROMPT_UNKNOWN (no such prompt in effect, no prompt on the frame),
   *   E_HISTORY_EMPTY (nothing to undo / redo)
   */
  async edit(msg: RemovePrompt | ClearFrame | Undo | Redo): Promise<{ frame?: number; objectId?: number }> {
    const sid = this.host.sessionId;
    if (msg.type === 'removePrompt') {
      const p = this.active().find((q) => q.promptId === msg.promptId);
      if (!p) throw new CinesegError(ErrorCode.E_PROMPT_UNKNOWN, `prompt ${msg.promptId} is not in effect in this session`, { details: { promptId: msg.promptId } });
      await this.takeBack([p.promptId]);
      await this.log.push(sid, { kind: 'remove', promptIds: [p.promptId] });
      return { frame: p.frame, objectId: p.objectId };
    }
    if (msg.type === 'clearFrame') {
      const ps = this.active().filter((q) => q.frame === msg.frame && (msg.objectId === undefined || q.objectId === msg.objectId));
      if (ps.length === 0)
        throw new CinesegError(ErrorCode.E_PROMPT_UNKNOWN, `frame ${msg.frame} has no prompt${msg.objectId === undefined ? '' : ` of object ${msg.objectId}`}`, { details: { frame: msg.frame } });
      const ids = ps.map((q) => q.promptId);
      await this.takeBack(ids);
      await this.log.push(sid, { kind: 'remove', promptIds: ids });
      return { frame: msg.frame, ...(msg.objectId === undefined ? {} : { objectId: msg.objectId }) };
    }
    const which = msg.type;
    const e = await this.log.peek(sid, which);
    if (!e) throw new CinesegError(ErrorCode.E_HISTORY_EMPTY, which === 'undo' ? 'nothing to undo' : 'nothing to redo');
    const at = await this.run(e.edit, which === 'undo');
    await this.log.mark(sid, e.id, which === 'undo');
    return at;
  }

  /** The `prompts` message of the session as it is now. */
  async message(seq: number | null): Promise<PromptsMessage> {
    const { canUndo, canRedo } = await this.log.state(this.host.sessionId);
    const objects = [...this.live].sort((a, b) => a - b).map((objectId) => ({ objectId, label: this.labels.get(objectId) ?? 'object' }));
    const prompts = this.active()
      .sort((a, b) => a.promptId - b.promptId)
      .map(promptInfo);
    return { v: PROTOCOL_VERSION, type: 'prompts', seq, sessionId: this.host.sessionId, prompts, objects, canUndo, canRedo };
  }

  /** Sends the `prompts` message to the session's client. */
  async send(seq: number | null): Promise<void> {
    this.host.json(await this.message(seq));
  }

  /** Undoes (`back`) or redoes one edit; returns the frame and object it touched. */
  private async run(e: Edit, back: boolean): Promise<{ frame?: number; objectId?: number }> {
    const h = this.host;
    if (e.kind === 'rename') {
      const label = back ? e.before : e.after;
      await h.sink.labelObject(h.sessionId, e.objectId, label);
      if (label === 'object') this.labels.delete(e.objectId);
      else this.labels.set(e.objectId, label);
      return { objectId: e.objectId };
    }
    if (e.kind === 'removeObject') {
      if (!back) {
        await this.removeObjectAgain(e.objectId);
        return { objectId: e.objectId };
      }
      await this.revive(e);
      return { objectId: e.objectId };
    }
    const takeBack = (e.kind === 'add') === back;
    const first = this.find(e.promptIds[0]!);
    if (takeBack) await this.takeBack(e.promptIds);
    else await this.putBack(e.promptIds);
    return first ? { frame: first.frame, objectId: first.objectId } : {};
  }

  private async removeObjectAgain(objectId: number): Promise<void> {
    const own = this.active().filter((p) => p.objectId === objectId);
    await this.host.dropObject(objectId);
    for (const p of own) this.dormant.set(p.promptId, p);
    this.live.delete(objectId);
  }

  /** Undo of removeObject: store, log and tracker get the object back, then its masks are resent. */
  private async revive(e: Extract<Edit, { kind: 'removeObject' }>): Promise<void> {
    const h = this.host;
    if (!h.sink.reviveObject) throw new CinesegError(ErrorCode.E_TRACKER_STATE, 'this server keeps removed objects nowhere; the removal cannot be undone');
    await h.sink.reviveObject(h.sessionId, e.objectId, e.label, e.mark);
    const prompts: Active[] = [];
    for (const id of e.promptIds) {
      const p = this.dormant.get(id);
      if (!p) continue;
      this.dormant.delete(id);
      prompts.push(p as Active);
    }
    prompts.sort((a, b) => a.promptId - b.promptId);
    h.steps.push(...prompts);
    this.live.add(e.objectId);
    if (e.label !== 'object') this.labels.set(e.objectId, e.label);
    const masks = ((await h.sink.currentMasks?.(h.sessionId)) ?? []).filter((m) => m.objectId === e.objectId);
    if (prompts.length > 0) {
      const prompted = new Set(prompts.map((p) => p.frame));
      h.tracker().restoreObject(e.objectId, {
        prompts: prompts.map((p) =>
          p.kind === 'points'
            ? { kind: 'points', frame: p.frame, points: p.points, clearOld: p.clearOld }
            : p.kind === 'box'
              ? { kind: 'box', frame: p.frame, box: p.box, points: p.points }
              : { kind: 'mask', frame: p.frame },
        ),
        masks: masks.map((m) => ({ frame: m.frame, mask: () => decodeMask({ size: [h.height, h.width], counts: [...m.counts] }), score: m.score, tracked: !prompted.has(m.frame) })),
      });
    }
    await h.resend(masks);
  }

  /** Prompts in effect now, in the order applied. */
  private active(): Active[] {
    return this.host.steps.filter((s): s is Active => s.kind !== 'support' && (s as SinkPrompt).promptId !== undefined);
  }

  private find(id: number): SinkPrompt | undefined {
    return this.dormant.get(id) ?? this.active().find((p) => p.promptId === id);
  }

  /** Takes prompts back (stored first), then runs their frames again. */
  private async takeBack(ids: readonly number[]): Promise<void> {
    const h = this.host;
    const ps = this.active().filter((p) => ids.includes(p.promptId));
    if (ps.length === 0) return;
    await this.log.setPromptsRemoved(
      h.sessionId,
      ps.map((p) => p.promptId),
      true,
    );
    for (const p of ps) {
      h.steps.splice(h.steps.indexOf(p), 1);
      this.dormant.set(p.promptId, p);
    }
    await this.rerun(ps);
  }

  /** Puts prompts in effect again (stored first), then runs their frames again. */
  private async putBack(ids: readonly number[]): Promise<void> {
    const h = this.host;
    const ps = ids.flatMap((id) => {
      const p = this.dormant.get(id);
      return p ? [p as Active] : [];
    });
    if (ps.length === 0) return;
    await this.log.setPromptsRemoved(
      h.sessionId,
      ps.map((p) => p.promptId),
      false,
    );
    for (const p of ps) {
      this.dormant.delete(p.promptId);
      h.steps.push(p);
      this.live.add(p.objectId);
    }
    await this.rerun(ps);
  }

  /** Runs every (object, frame) the prompts are on again from its prompts in effect (module comment). */
  private async rerun(ps: readonly SinkPrompt[]): Promise<void> {
    const h = this.host;
    const seen = new Set<string>();
    for (const p of ps) {
      const key = `${p.objectId}:${p.frame}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const t = h.tracker();
      t.clearFrame(p.objectId, p.frame);
      const left = this.active()
        .filter((q) => q.objectId === p.objectId && q.frame === p.frame)
        .sort((a, b) => a.promptId - b.promptId);
      let out: FrameOutput | null = null;
      for (const q of left) out = await h.apply(q);
      // An object with nothing left to track from would fail every later propagation.
      if (!out && !t.hasConditioning(p.objectId)) t.removeObject(p.objectId);
      await h.emit([{ objectId: p.objectId, frame: p.frame, output: out }]);
    }
  }
}
