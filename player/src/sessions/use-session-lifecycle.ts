/**
 * Opening sessions, apart from App so App only wires it: start one on a clip, a volume view or
 * the live source (`open`), reopen a stored one (`reopen`), take one back after a reconnect
 * (`resume`), and send a replayed prompt (`sendPrompt`). Prompts are kept per (object, frame) in
 * App's replay copy so a session can be rebuilt after the connection comes back (the server may
 * have restarted: the session is reopened from its store, or opened again and the prompts replayed).
 */
import { useCallback, type MutableRefObject, type RefObject } from 'react';
import type { ClipInfo, SessionStarted } from '../../../engine/src/protocol.js';
import type { Connection, Request } from '../connection.js';
import type { ObjectEntry } from '../objects/ObjectList.js';
import type { ObjectMask } from '../overlay/paint.js';
import { hooks } from '../test-hooks.js';
import type { LiveObjectIds } from '../video/live-prompts.js';
import { listedClipOf, type VolumeView } from '../video/volume-view.js';
import { errorLine } from '../client-error.js';

export interface FramePrompt {
  objectId: number;
  frame: number;
  points: { x: number; y: number; label: 0 | 1 }[];
  box?: [number, number, number, number];
}

/** What is on screen: a clip (a volume clip in one of its views) or the live source. */
export type Source = { kind: 'clip'; clip: ClipInfo; view?: VolumeView } | { kind: 'live' };

export interface LifecycleDeps {
  conn: RefObject<Connection | null>;
  sessionRef: MutableRefObject<SessionStarted | null>;
  clipsRef: RefObject<ClipInfo[]>;
  objectsRef: RefObject<ObjectEntry[]>;
  masks: RefObject<Map<number, Map<number, ObjectMask>>>;
  prompts: MutableRefObject<Map<string, FramePrompt>>;
  liveKnown: RefObject<Set<number>>;
  liveIds: RefObject<LiveObjectIds>;
  /** Forgets the editing state (a new session). */
  resetEditing(): void;
  setSession(s: SessionStarted | null): void;
  setSource(s: Source): void;
  setObjects: React.Dispatch<React.SetStateAction<ObjectEntry[]>>;
  setActive: React.Dispatch<React.SetStateAction<number>>;
  setStatus(s: string): void;
  setProgress(p: null): void;
  scheduleMaskRender(): void;
  loadSessions(): void;
}

/** startSession for a source: a volume view asks for its plane and window. */
export function startRequest(src: Source): Request {
  if (src.kind === 'live') return { type: 'startSession', live: true };
  const v = src.view;
  return { type: 'startSession', clip: src.clip.id, ...(v ? { plane: v.plane as 'axial' | 'coronal' | 'sagittal', ...(v.window ? { window: v.window } : {}) } : {}) };
}

export function useSessionLifecycle(d: LifecycleDeps) {
  const { conn, sessionRef, setObjects, setActive, setStatus, scheduleMaskRender, loadSessions } = d;

  const sendPrompt = useCallback(async (sid: string, fp: FramePrompt) => {
    const c = conn.current!;
    const req: Request = fp.box
      ? { type: 'addBox', sessionId: sid, frame: fp.frame, objectId: fp.objectId, box: fp.box, points: fp.points }
      : { type: 'addPoints', sessionId: sid, frame: fp.frame, objectId: fp.objectId, points: fp.points, clearOld: true };
    // Live: clicks add up on the server, which also gives new objects their ids (video/live-prompts.ts).
    const renamed = (local: number, server: number) => {
      setObjects((os) =>
        os.some((o) => o.id === server)
          ? os.filter((o) => o.id !== local)
          : os.map((o) => (o.id === local ? { ...o, id: server, name: o.name === `object ${local}` ? `object ${server}` : o.name } : o)),
      );
      setActive((a) => (a === local ? server : a));
    };
    const r = sessionRef.current?.kind === 'live' ? await d.liveIds.current!.send(c, sid, fp.frame, fp.objectId, fp, d.liveKnown.current!.has(fp.objectId), renamed) : await c.request(req);
    // Live: the server says which frame the click landed on (the one on screen while it still holds it).
    if (r.type === 'ack' && r.frame !== undefined && sessionRef.current?.kind === 'live') {
      hooks.lastLivePrompt = { asked: fp.frame, applied: r.frame };
      const id = r.objectId ?? fp.objectId;
      setStatus(r.frame === fp.frame ? `object ${id}: prompt on frame ${r.frame}` : `object ${id}: frame ${fp.frame} had passed, prompt on frame ${r.frame}`);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  /**
   * Reopens a stored session: its objects and prompts come in the reply, its masks right after it
   * (keyed by the reply's handle). Resolves false when the server refused (`quiet`: say nothing then).
   */
  const reopen = useCallback(
    async (sessionId: string, quiet = false, model?: string): Promise<boolean> => {
      const c = conn.current;
      if (!c || !c.connected) return false;
      const old = sessionRef.current;
      if (old && old.sessionId !== sessionId && !quiet) void c.request({ type: 'closeSession', sessionId: old.sessionId }).then(loadSessions, () => undefined);
      if (!quiet) setStatus('reopening the stored session…');
      try {
        // The clip list first: between the reply and setSession below nothing may await (a render
        // in between would put the old session back into sessionRef and drop the masks that follow).
        const clipList = d.clipsRef.current!.length ? d.clipsRef.current! : ((await (await fetch('/api/clips')).json()) as ClipInfo[]);
        const r = await c.request({ type: 'openSession', sessionId, ...(model ? { model } : {}) });
        if (r.type !== 'sessionStarted' || !r.restored) return false;
        // Now, not at the next render: the masks follow this reply at once and are matched by its handle.
        sessionRef.current = r;
        d.masks.current!.clear();
        d.resetEditing();
        d.liveKnown.current!.clear();
        d.prompts.current.clear();
        hooks.masksReceived = 0;
        hooks.restoredMasks = r.restored.masks;
        hooks.sessionId = r.sessionId;
        for (const p of r.restored.prompts) d.prompts.current.set(`${p.objectId}:${p.frame}`, { objectId: p.objectId, frame: p.frame, points: p.points, ...(p.box ? { box: p.box } : {}) });
        const objs = r.restored.objects.map((o) => ({ id: o.objectId, name: o.label === 'object' ? `object ${o.objectId}` : o.label, hidden: false }));
        // A volume view is stored under its view id (`…#coronal:liver`): shown through its listed clip.
        const found = r.clip ? listedClipOf(clipList, r.clip) : null;
        // Source and session change in one render: the view mounts with this session's clip.
        if (found) d.setSource({ kind: 'clip', clip: found.clip, ...(found.view ? { view: found.view } : {}) });
        setObjects(objs);
        setActive(objs[0]?.id ?? 1);
        d.setProgress(null);
        d.setSession(r);
        setStatus(`reopened: ${objs.length} object${objs.length === 1 ? '' : 's'}, ${r.restored.masks} masks`);
        scheduleMaskRender();
        loadSessions();
        return true;
      } catch (e) {
        if (!quiet) setStatus(errorLine(e));
        return false;
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [loadSessions, scheduleMaskRender],
  );

  /** Takes a session back after a reconnect (`resume` with its token); false when the server no longer holds it. */
  const resume = useCallback(
    async (old: SessionStarted): Promise<boolean> => {
      const c = conn.current;
      if (!c || !c.connected || !old.resumeToken) return false;
      try {
        const r = await c.request({ type: 'resume', sessionId: old.sessionId, resumeToken: old.resumeToken });
        if (r.type !== 'sessionStarted' || !r.resumed) return false;
        // Now, not at the next render: the resent masks follow at once and are matched by the handle.
        sessionRef.current = r;
        d.setSession(r);
        setStatus(r.propagating ? 'reconnected: propagation goes on' : 'reconnected');
        scheduleMaskRender();
        return true;
      } catch {
        return false;
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [scheduleMaskRender],
  );

  const open = useCallback(
    async (src: Source, replay: boolean) => {
      const c = conn.current;
      if (!c || !c.connected) return;
      const old = sessionRef.current;
      // Back after a brief drop: the server kept the session for its resume grace, so take it
      // back (objects, memory and all; it resends the stored masks). After a restart (or a crash)
      // of a server with a store: the stored session itself comes back, masks and all. Replaying
      // the prompts into a new session is the last resort.
      if (replay && old?.resumeToken && (await resume(old))) return;
      if (replay && src.kind === 'clip' && old?.kind === 'recorded' && (await reopen(old.sessionId, true))) return;
      // The list is read again once the close is done: that session is reopenable from then on.
      if (old && !replay) void c.request({ type: 'closeSession', sessionId: old.sessionId }).then(loadSessions, () => undefined);
      d.masks.current!.clear();
      if (!replay) d.resetEditing();
      d.liveKnown.current!.clear();
      d.liveIds.current!.clear();
      if (!replay) {
        d.prompts.current.clear();
        setObjects([]);
        setActive(1);
      }
      d.setProgress(null);
      d.setSession(null);
      setStatus(src.kind === 'clip' ? `opening ${src.clip.name}${src.view ? ` (${src.view.plane}${src.view.window ? `, ${src.view.window}` : ''})` : ''}…` : 'connecting to the live source…');
      try {
        const r = await c.request(startRequest(src));
        if (r.type !== 'sessionStarted') return;
        hooks.masksReceived = 0;
        d.setSession(r);
        hooks.sessionId = r.sessionId;
        hooks.restoredMasks = null;
        setStatus('');
        loadSessions();
        // Live objects stay on the server (kept over a reload or a reconnect): replaying old clicks
        // would put them on whatever anatomy is on screen now. Their masks simply come again.
        if (replay && src.kind !== 'live') {
          for (const fp of d.prompts.current.values()) await sendPrompt(r.sessionId, fp);
          for (const o of d.objectsRef.current!) if (o.name !== `object ${o.id}`) await c.request({ type: 'renameObject', sessionId: r.sessionId, objectId: o.id, name: o.name });
        }
      } catch (e) {
        setStatus(errorLine(e));
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [sendPrompt, resume, reopen, loadSessions],
  );

  return { sendPrompt, reopen, resume, open };
}
