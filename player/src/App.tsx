/**
 * The player: clip list, recorded or live view, objects, propagation and timeline. Prompts are
 * kept here per (object, frame) so a session can be rebuilt after the connection comes back
 * (the server may have restarted: the session is opened again and the prompts replayed).
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { binaryKind, decodeLiveFrame, decodeLivePicture, decodeMaskFrame, type ClipInfo, type PromptsMessage, type ServerMessage, type SessionStarted } from '../../engine/src/protocol.js';
import { Connection, defaultWsUrl, type Request } from './connection.js';
import { countsArea, emptyMaskNotice, promptMapOf } from './edit/prompt-map.js';
import { useEditing } from './edit/use-editing.js';
import { useMaskStyle } from './edit/use-mask-style.js';
import { ObjectList, type ObjectEntry } from './objects/ObjectList.js';
import { SessionList, type StoredSessionRow } from './sessions/SessionList.js';
import type { ObjectMask } from './overlay/paint.js';
import { hooks } from './test-hooks.js';
import { Timeline } from './timeline/Timeline.js';
import { ExportDialog } from './export/ExportDialog.js';
import { HelpOverlay } from './keyboard/HelpOverlay.js';
import { usePlayerShortcuts } from './keyboard/player-bindings.js';
import { installShortcuts } from './keyboard/shortcuts.js';
import { ImproveModel } from './models/ImproveModel.js';
import { ReviewPanel } from './review/ReviewPanel.js';
import { useSessionPanels } from './sessions/use-session-panels.js';
import { HeaderExtras } from './sessions/HeaderExtras.js';
import { PropagatePanel } from './timeline/PropagatePanel.js';
import { useTrackAnalysis } from './timeline/track-analysis.js';
import { usePropagation } from './timeline/use-propagation.js';
import { LiveObjectIds } from './video/live-prompts.js';
import { requestLiveFreeze } from './live/live-freeze.js';
import { LiveView, type LiveViewHandle } from './video/LiveView.js';
import { RecordedView, type Prompt, type RecordedViewHandle } from './video/RecordedView.js';

interface FramePrompt {
  objectId: number;
  frame: number;
  points: { x: number; y: number; label: 0 | 1 }[];
  box?: [number, number, number, number];
}

type Source = { kind: 'clip'; clip: ClipInfo } | { kind: 'live' };

export function App() {
  const [clips, setClips] = useState<ClipInfo[]>([]);
  const clipsRef = useRef<ClipInfo[]>([]);
  clipsRef.current = clips;
  const [stored, setStored] = useState<StoredSessionRow[]>([]);
  const [liveAvailable, setLiveAvailable] = useState(false);
  const [source, setSource] = useState<Source | null>(null);
  const [session, setSession] = useState<SessionStarted | null>(null);
  const [connected, setConnected] = useState(false);
  const [objects, setObjects] = useState<ObjectEntry[]>([]);
  const [active, setActive] = useState(1);
  const [status, setStatus] = useState('');
  const [current, setCurrent] = useState(0);
  const [maskVersion, setMaskVersion] = useState(0);
  const masks = useRef(new Map<number, Map<number, ObjectMask>>());
  const prompts = useRef(new Map<string, FramePrompt>());
  const conn = useRef<Connection | null>(null);
  const sessionRef = useRef<SessionStarted | null>(null);
  sessionRef.current = session;
  const objectsRef = useRef<ObjectEntry[]>([]);
  objectsRef.current = objects;
  const sourceRef = useRef<Source | null>(null);
  sourceRef.current = source;
  const recordedView = useRef<RecordedViewHandle>(null);
  const liveView = useRef<LiveViewHandle>(null);
  const bump = useRef(0);
  // Propagation panel, review queue, shortcuts, help, export, sessions and model panels (H5's
  // files under timeline/, review/, keyboard/, export/, sessions/, models/): App only wires them.
  const prop = usePropagation(conn, session, current, setStatus);
  const { progress, setProgress } = prop;
  const propRef = useRef(prop);
  propRef.current = prop;
  const [overlayOn, setOverlayOn] = useState(true);
  const [helpOpen, setHelpOpen] = useState(false);
  const [exportOpen, setExportOpen] = useState(false);
  const [sessionModel, setSessionModel] = useState<string | null>(null);
  // Editing (edit/use-editing.ts) and mask look (edit/use-mask-style.ts): App only wires them.
  const editing = useEditing({
    conn,
    session: sessionRef,
    width: session?.width ?? 0,
    height: session?.height ?? 0,
    onError: setStatus,
    onPrompts: (m: PromptsMessage) => {
      // The server's list is the truth: the replay copy follows it (removals and undos included).
      prompts.current = promptMapOf(m.prompts);
      for (const o of m.objects) ensureObject(o.objectId);
      scheduleMaskRender();
    },
  });
  const editingRef = useRef(editing);
  editingRef.current = editing;
  const objectNames = useMemo(() => new Map(objects.map((o) => [o.id, o.name])), [objects]);
  const look = useMaskStyle(source?.kind === 'clip' ? source.clip.id : null, objectNames);

  const ensureObject = useCallback((id: number) => setObjects((os) => (os.some((o) => o.id === id) ? os : [...os, { id, name: `object ${id}`, hidden: false }])), []);
  /** Objects with a mask in this live session: another viewer's objects appear in the list too. */
  const liveKnown = useRef(new Set<number>());
  const liveIds = useRef(new LiveObjectIds());

  const dropObject = useCallback((id: number) => {
    setObjects((os) => os.filter((o) => o.id !== id));
    for (const [k, fp] of prompts.current) if (fp.objectId === id) prompts.current.delete(k);
    for (const f of masks.current.values()) f.delete(id);
    liveKnown.current.delete(id);
  }, []);

  const hidden = useMemo(() => new Set(objects.filter((o) => o.hidden || !overlayOn).map((o) => o.id)), [objects, overlayOn]);

  const scheduleMaskRender = useCallback(() => {
    if (bump.current) return;
    bump.current = requestAnimationFrame(() => {
      bump.current = 0;
      setMaskVersion((v) => v + 1);
    });
  }, []);

  const sendPrompt = useCallback(async (sid: string, fp: FramePrompt) => {
    const c = conn.current!;
    const req: Request = fp.box
      ? { type: 'addBox', sessionId: sid, frame: fp.frame, objectId: fp.objectId, box: fp.box, points: fp.points }
      : { type: 'addPoints', sessionId: sid, frame: fp.frame, objectId: fp.objectId, points: fp.points, clearOld: true };
    // Live: clicks add up on the server, which also gives new objects their ids (video/live-prompts.ts).
    const renamed = (local: number, server: number) => {
      setObjects((os) => (os.some((o) => o.id === server) ? os.filter((o) => o.id !== local) : os.map((o) => (o.id === local ? { ...o, id: server, name: o.name === `object ${local}` ? `object ${server}` : o.name } : o))));
      setActive((a) => (a === local ? server : a));
    };
    const r = sessionRef.current?.kind === 'live' ? await liveIds.current.send(c, sid, fp.frame, fp.objectId, fp, liveKnown.current.has(fp.objectId), renamed) : await c.request(req);
    // Live: the server says which frame the click landed on (the one on screen while it still holds it).
    if (r.type === 'ack' && r.frame !== undefined && sessionRef.current?.kind === 'live') {
      hooks.lastLivePrompt = { asked: fp.frame, applied: r.frame };
      const id = r.objectId ?? fp.objectId;
      setStatus(r.frame === fp.frame ? `object ${id}: prompt on frame ${r.frame}` : `object ${id}: frame ${fp.frame} had passed, prompt on frame ${r.frame}`);
    }
  }, []);

  const loadSessions = useCallback(() => {
    fetch('/api/sessions')
      .then((r) => (r.ok ? (r.json() as Promise<StoredSessionRow[]>) : []))
      .then(setStored)
      .catch(() => undefined);
  }, []);
  const panels = useSessionPanels(
    loadSessions,
    setStatus,
    useCallback((id: string, action: string) => {
      // The server closed the session on screen (approve closes it first): let it go here too.
      if (sessionRef.current?.sessionId !== id) return;
      sessionRef.current = null;
      hooks.sessionId = null;
      setSession(null);
      setObjects([]);
      setStatus(action === 'approve' ? 'session approved (and closed); pick a clip or reopen a session' : 'session closed');
    }, []),
  );
  const panelsRef = useRef(panels);
  panelsRef.current = panels;

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
        const clipList = clipsRef.current.length ? clipsRef.current : ((await (await fetch('/api/clips')).json()) as ClipInfo[]);
        const r = await c.request({ type: 'openSession', sessionId, ...(model ? { model } : {}) });
        if (r.type !== 'sessionStarted' || !r.restored) return false;
        // Now, not at the next render: the masks follow this reply at once and are matched by its handle.
        sessionRef.current = r;
        masks.current.clear();
        editingRef.current.reset();
        liveKnown.current.clear();
        prompts.current.clear();
        hooks.masksReceived = 0;
        hooks.restoredMasks = r.restored.masks;
        hooks.sessionId = r.sessionId;
        for (const p of r.restored.prompts) prompts.current.set(`${p.objectId}:${p.frame}`, { objectId: p.objectId, frame: p.frame, points: p.points, ...(p.box ? { box: p.box } : {}) });
        const objs = r.restored.objects.map((o) => ({ id: o.objectId, name: o.label === 'object' ? `object ${o.objectId}` : o.label, hidden: false }));
        const clip = clipList.find((k) => k.id === r.clip);
        // Source and session change in one render: the view mounts with this session's clip.
        if (clip) setSource({ kind: 'clip', clip });
        setObjects(objs);
        setActive(objs[0]?.id ?? 1);
        setProgress(null);
        setSession(r);
        setStatus(`reopened: ${objs.length} object${objs.length === 1 ? '' : 's'}, ${r.restored.masks} masks`);
        scheduleMaskRender();
        loadSessions();
        return true;
      } catch (e) {
        if (!quiet) setStatus((e as Error).message);
        return false;
      }
    },
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
        setSession(r);
        setStatus(r.propagating ? 'reconnected: propagation goes on' : 'reconnected');
        scheduleMaskRender();
        return true;
      } catch {
        return false;
      }
    },
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
      masks.current.clear();
      if (!replay) editingRef.current.reset();
      liveKnown.current.clear();
      liveIds.current.clear();
      if (!replay) {
        prompts.current.clear();
        setObjects([]);
        setActive(1);
      }
      setProgress(null);
      setSession(null);
      setStatus(src.kind === 'clip' ? `opening ${src.clip.name}…` : 'connecting to the live source…');
      try {
        const r = await c.request(src.kind === 'clip' ? { type: 'startSession', clip: src.clip.id } : { type: 'startSession', live: true });
        if (r.type !== 'sessionStarted') return;
        hooks.masksReceived = 0;
        setSession(r);
        hooks.sessionId = r.sessionId;
        hooks.restoredMasks = null;
        setStatus('');
        loadSessions();
        // Live objects stay on the server (kept over a reload or a reconnect): replaying old clicks
        // would put them on whatever anatomy is on screen now. Their masks simply come again.
        if (replay && src.kind !== 'live') {
          for (const fp of prompts.current.values()) await sendPrompt(r.sessionId, fp);
          for (const o of objectsRef.current) if (o.name !== `object ${o.id}`) await c.request({ type: 'renameObject', sessionId: r.sessionId, objectId: o.id, name: o.name });
        }
      } catch (e) {
        setStatus((e as Error).message);
      }
    },
    [sendPrompt, resume, reopen, loadSessions],
  );

  useEffect(() => {
    const load = () => {
      fetch('/api/clips')
        .then((r) => r.json() as Promise<ClipInfo[]>)
        .then(setClips)
        .catch(() => undefined);
      fetch('/api/info')
        .then((r) => r.json() as Promise<{ live: boolean }>)
        .then((i) => setLiveAvailable(i.live))
        .catch(() => undefined);
      loadSessions();
    };
    const c = new Connection(defaultWsUrl(), {
      open(reconnect) {
        setConnected(true);
        hooks.connected = true;
        if (reconnect) hooks.reconnects++;
        load();
        if (reconnect && sourceRef.current) void open(sourceRef.current, true);
      },
      close() {
        setConnected(false);
        hooks.connected = false;
        setProgress(null);
      },
      json(m: ServerMessage) {
        const s = sessionRef.current;
        if (editingRef.current.onMessage(m)) return;
        if (propRef.current.onMessage(m) || panelsRef.current.onMessage(m, s?.sessionId ?? null)) return;
        if (m.type === 'objectRemoved' && s && m.sessionId === s.sessionId) {
          dropObject(m.objectId);
          scheduleMaskRender();
        } else if (m.type === 'error') setStatus(`${m.code}: ${m.message}`);
      },
      binary(data) {
        const s = sessionRef.current;
        const kind = binaryKind(data);
        if (kind === 'mask') {
          const m = decodeMaskFrame(data);
          if (!s || m.handle !== s.handle) return;
          hooks.masksReceived++;
          if (s.kind === 'live') {
            if (!liveKnown.current.has(m.objectId)) {
              liveKnown.current.add(m.objectId);
              ensureObject(m.objectId);
            }
            liveView.current?.onMask(m);
            return;
          }
          let f = masks.current.get(m.frame);
          if (!f) masks.current.set(m.frame, (f = new Map()));
          const stability = (m as { stability?: number }).stability;
          f.set(m.objectId, { objectId: m.objectId, counts: m.counts, score: m.score, ...(stability === undefined ? {} : { stability }) } as ObjectMask);
          scheduleMaskRender();
        } else if (kind === 'picture') {
          const pic = decodeLivePicture(data);
          if (s && pic.handle === s.handle) liveView.current?.onPicture(pic);
        } else if (kind === 'frame') {
          const f = decodeLiveFrame(data);
          if (s && f.handle === s.handle) liveView.current?.onFrame(f);
        }
      },
    });
    conn.current = c;
    return () => c.destroy();
  }, [open, scheduleMaskRender, dropObject, ensureObject, loadSessions]);

  useEffect(() => {
    hooks.masksHeld = () => {
      const out: { objectId: number; frame: number; area: number; runs: number }[] = [];
      for (const [frame, f] of masks.current) {
        for (const m of f.values()) {
          let area = 0;
          for (let i = 1; i < m.counts.length; i += 2) area += m.counts[i]!;
          out.push({ objectId: m.objectId, frame, area, runs: m.counts.length });
        }
      }
      return out;
    };
  }, []);


  const onPrompt = useCallback(
    (p: Prompt) => {
      const s = sessionRef.current;
      if (!s) return;
      const objectId = active;
      ensureObject(objectId);
      const key = `${objectId}:${p.frame}`;
      // Clicks on a frame accumulate (SAM2's interactive refinement); a box starts that frame's prompt afresh.
      let fp = prompts.current.get(key);
      if (s.kind === 'live' || !fp || p.kind === 'box') fp = { objectId, frame: p.frame, points: [] };
      if (p.kind === 'box') fp.box = p.box;
      else fp.points = [...fp.points, { x: p.x, y: p.y, label: p.label }];
      prompts.current.set(key, fp);
      setStatus('');
      if (s.kind === 'recorded') {
        // Recorded: each click is a prompt of its own on the server (drawn, removable, undoable);
        // clearOld false keeps the frame's earlier clicks, so consecutive clicks refine.
        const req: Request = p.kind === 'box' ? { type: 'addBox', sessionId: s.sessionId, frame: p.frame, objectId, box: p.box } : { type: 'addPoints', sessionId: s.sessionId, frame: p.frame, objectId, points: [{ x: p.x, y: p.y, label: p.label }], clearOld: false };
        conn.current!.request(req).then((r) => r.type === 'ack' && editingRef.current.onPromptAck(r, objectId, p.frame), (e: Error) => setStatus(e.message));
        return;
      }
      sendPrompt(s.sessionId, fp).catch((e: Error) => setStatus(e.message));
    },
    [active, sendPrompt, ensureObject],
  );

  const removeObject = (id: number) => {
    const s = session;
    if (!window.confirm(`Delete ${objects.find((o) => o.id === id)?.name ?? `object ${id}`} with all its masks?`)) return;
    dropObject(id);
    scheduleMaskRender();
    if (s) conn.current!.request({ type: 'removeObject', sessionId: s.sessionId, objectId: id }).catch((e: Error) => setStatus(e.message));
  };

  const maskFrames = useMemo(() => {
    const set = new Set<number>();
    for (const [f, m] of masks.current) if ([...m.values()].some((o) => countsArea(o.counts) > 0)) set.add(f);
    return set;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [maskVersion, session]); // a new session clears the masks without a new maskVersion
  // Mask prompts (brush strokes) are in the server's list only, not in the replay copy.
  const promptedFrames = useMemo(() => new Set([...[...prompts.current.values()].map((p) => p.frame), ...editing.prompts.map((p) => p.frame)]), [maskVersion, objects, editing.prompts]);

  const analysis = useTrackAnalysis(masks.current, maskVersion, objects.map((o) => o.id), [...prompts.current.values(), ...editing.prompts], session?.numFrames ?? 0, session?.width ?? 1, session?.height ?? 1);
  prop.coverage.current = { firstPrompt: analysis.promptedFrames[0] ?? null, tracked: analysis.trackedFrames };
  const seekTo = (f: number) => recordedView.current?.seek(f);
  /** Runs the session on screen on another model: closed, then reopened with it (prompts and masks kept). */
  const switchModel = async (model: string) => {
    const s = sessionRef.current;
    if (!s || s.kind !== 'recorded') return;
    await conn.current?.request({ type: 'closeSession', sessionId: s.sessionId }).catch(() => undefined);
    if (await reopen(s.sessionId, false, model)) setSessionModel(model);
  };
  useEffect(() => installShortcuts(), []);
  usePlayerShortcuts({
    recorded: session?.kind === 'recorded',
    numFrames: session?.numFrames ?? 0,
    current,
    seek: seekTo,
    objectIds: objects.map((o) => o.id),
    selectObject: setActive,
    promptedFrames: analysis.promptedFrames,
    flaggedFrames: analysis.flaggedFrames,
    toggleOverlay: () => setOverlayOn((v) => !v),
    propagate: () => objects.length > 0 && prop.start(),
    escape: () => (helpOpen ? setHelpOpen(false) : exportOpen ? setExportOpen(false) : prop.cancel()),
    toggleHelp: () => setHelpOpen((v) => !v),
  });

  const clip = source?.kind === 'clip' ? source.clip : null;
  return (
    <div className="app">
      <header>
        <strong>cineseg</strong>
        <span className={connected ? 'conn ok' : 'conn bad'} data-testid="connection">
          {connected ? 'connected' : 'reconnecting…'}
        </span>
        <span className="status" data-testid="status">
          {status}
        </span>
        <HeaderExtras clipProgress={panels.clipProgress} overlayOn={overlayOn} sessionId={session?.sessionId ?? null} canExport={session?.kind === 'recorded'} onExport={() => setExportOpen(true)} onHelp={() => setHelpOpen(true)} />
      </header>
      {helpOpen && <HelpOverlay onClose={() => setHelpOpen(false)} />}
      {exportOpen && session && <ExportDialog sessionId={session.sessionId} objects={objects} numFrames={session.numFrames ?? 0} current={current} onClose={() => setExportOpen(false)} />}
      <aside className="clips">
        <div className="panel-title">Clips</div>
        <ul>
          {clips.map((c) => (
            <li key={c.id}>
              <button
                className={clip?.id === c.id ? 'selected' : ''}
                data-clip={c.id}
                onClick={() => {
                  const s: Source = { kind: 'clip', clip: c };
                  setSource(s);
                  void open(s, false);
                }}
              >
                {c.name}
                <small>
                  {c.width}×{c.height} · {c.frames} frames
                </small>
              </button>
            </li>
          ))}
        </ul>
        {liveAvailable && (
          <button
            className={source?.kind === 'live' ? 'selected live' : 'live'}
            data-testid="open-live"
            onClick={() => {
              const s: Source = { kind: 'live' };
              setSource(s);
              void open(s, false);
            }}
          >
            ● Live
          </button>
        )}
        <SessionList
          sessions={stored}
          current={session?.sessionId ?? null}
          onReopen={(id) => {
            setSessionModel(stored.find((r) => r.id === id)?.model ?? null);
            void reopen(id);
          }}
          onAction={panels.onAction}
        />
      </aside>
      <main>
        {!session && <div className="hint">{source ? status || 'opening…' : 'Pick a clip on the left.'}</div>}
        {session && session.kind === 'recorded' && clip && (
          <>
            <RecordedView
              key={session.sessionId}
              handle={recordedView}
              hlsUrl={clip.hlsUrl}
              width={session.width}
              height={session.height}
              fps={session.fps}
              framePtsUs={session.framePtsUs ?? []}
              masks={masks.current}
              maskVersion={maskVersion}
              hidden={hidden}
              onPrompt={onPrompt}
              onFrame={setCurrent}
              prompts={editing.prompts}
              selectedPrompt={editing.selected}
              onSelectPrompt={(id) => editing.select(typeof id === 'number' ? id : null)}
              tool={editing.tool}
              brushRadius={editing.radius}
              activeObject={active}
              onMaskEdit={(m) => {
                ensureObject(m.objectId);
                editing.sendMask(m.frame, m.objectId, m.rle);
              }}
              maskStyle={look.style}
              colorOf={look.colorOf}
              notice={editing.notice ?? emptyMaskNotice(current, masks.current.get(current), hidden)}
            />
            <Timeline
              numFrames={session.numFrames ?? 0}
              current={current}
              promptedFrames={analysis.promptedFrames}
              maskFrames={maskFrames}
              flaggedFrames={analysis.flaggedFrames}
              rows={analysis.rows}
              hidden={hidden}
              colorOf={look.colorOf}
              onSeek={seekTo}
            />
            <PropagatePanel p={prop} numFrames={session.numFrames ?? 0} disabled={objects.length === 0} />
          </>
        )}
        {session && session.kind === 'live' && <LiveView key={session.sessionId} handle={liveView} width={session.width} height={session.height} hidden={hidden} objects={objects} pixelSpacingMm={session.pixelSpacingMm ?? null} maskStyle={look.style} onPrompt={onPrompt} onFreeze={(f) => requestLiveFreeze(conn.current, session.sessionId, f)} />}
      </main>
      <aside className="side">
        <ObjectList
          objects={objects}
          active={active}
          onSelect={setActive}
          onAdd={() => {
            const id = Math.max(0, ...objects.map((o) => o.id)) + 1;
            setObjects((os) => [...os, { id, name: `object ${id}`, hidden: false }]);
            setActive(id);
          }}
          onRename={(id, name) => setObjects((os) => os.map((o) => (o.id === id ? { ...o, name } : o)))}
          onRenameDone={(id, name) => {
            const s = sessionRef.current;
            if (s && name.trim()) conn.current!.request({ type: 'renameObject', sessionId: s.sessionId, objectId: id, name: name.trim() }).catch((e: Error) => setStatus(e.message));
          }}
          onToggleHidden={(id) => setObjects((os) => os.map((o) => (o.id === id ? { ...o, hidden: !o.hidden } : o)))}
          onDelete={removeObject}
          colorOf={look.colorOf}
          objectOpacity={look.objectOpacity}
          onObjectOpacity={look.setObjectOpacity}
          opacity={look.opacity}
          onOpacity={look.setOpacity}
          outline={look.outline}
          onOutline={look.setOutline}
        />
        {session?.kind === 'recorded' && <ReviewPanel flags={analysis.flags} current={current} nameOf={(id) => objectNames.get(id) ?? `object ${id}`} colorOf={look.colorOf} onSeek={seekTo} />}
        <ImproveModel sessionModel={sessionModel} canUse={session?.kind === 'recorded'} onUseModel={(m) => void switchModel(m)} />
        <div className="help">
          <div className="panel-title">Keys <button onClick={() => setHelpOpen(true)}>all keys (?)</button></div>
          click: positive point · right-click or Alt/Shift-click: negative · drag: box · click a marker: select, Delete: remove · Ctrl+Z / Ctrl+Shift+Z: undo / redo · B / E: brush / eraser, [ ]: size · , / . : frame step · space: play
        </div>
      </aside>
    </div>
  );
}
