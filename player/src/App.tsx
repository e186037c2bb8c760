/**
 * The player: clip list, recorded or live view, objects, propagation and timeline. App holds the
 * state and wires the parts: sessions are opened, reopened and resumed by
 * sessions/use-session-lifecycle.ts (which also keeps the replay copy of the prompts), binary
 * messages go to overlay/mask-inbox.ts, a volume clip gets its plane and window picker
 * (video/VolumeControls.tsx).
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ClipInfo, PromptsMessage, ServerMessage, SessionStarted } from '../../engine/src/protocol.js';
import { Connection, defaultWsUrl, type Request } from './connection.js';
import { heldMasks, onSessionBinary } from './overlay/mask-inbox.js';
import { useSessionLifecycle, type FramePrompt, type Source } from './sessions/use-session-lifecycle.js';
import { VolumeControls } from './video/VolumeControls.js';
import { displayAspect, hlsUrlOf, parseViewId, viewSpacing, type VolumeView } from './video/volume-view.js';
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
import { errorLine } from './client-error.js';

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
  const { setProgress } = prop;
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
  const { sendPrompt, reopen, open } = useSessionLifecycle({
    conn,
    sessionRef,
    clipsRef,
    objectsRef,
    masks,
    prompts,
    liveKnown,
    liveIds,
    resetEditing: () => editingRef.current.reset(),
    setSession,
    setSource,
    setObjects,
    setActive,
    setStatus,
    setProgress,
    scheduleMaskRender,
    loadSessions,
  });

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
        onSessionBinary(data, sessionRef.current, { masks: masks.current, liveKnown: liveKnown.current, liveView: liveView.current, ensureObject, scheduleMaskRender });
      },
    });
    conn.current = c;
    return () => c.destroy();
  }, [open, scheduleMaskRender, dropObject, ensureObject, loadSessions, setProgress]);

  useEffect(() => {
    hooks.masksHeld = () => heldMasks(masks.current);
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
        const req: Request =
          p.kind === 'box'
            ? { type: 'addBox', sessionId: s.sessionId, frame: p.frame, objectId, box: p.box }
            : { type: 'addPoints', sessionId: s.sessionId, frame: p.frame, objectId, points: [{ x: p.x, y: p.y, label: p.label }], clearOld: false };
        conn.current!.request(req).then(
          (r) => r.type === 'ack' && editingRef.current.onPromptAck(r, objectId, p.frame),
          (e: unknown) => setStatus(errorLine(e)),
        );
        return;
      }
      sendPrompt(s.sessionId, fp).catch((e: unknown) => setStatus(errorLine(e)));
    },
    [active, sendPrompt, ensureObject],
  );

  const removeObject = (id: number) => {
    const s = session;
    if (!window.confirm(`Delete ${objects.find((o) => o.id === id)?.name ?? `object ${id}`} with all its masks?`)) return;
    dropObject(id);
    scheduleMaskRender();
    if (s) conn.current!.request({ type: 'removeObject', sessionId: s.sessionId, objectId: id }).catch((e: unknown) => setStatus(errorLine(e)));
  };

  const maskFrames = useMemo(() => {
    const set = new Set<number>();
    for (const [f, m] of masks.current) if ([...m.values()].some((o) => countsArea(o.counts) > 0)) set.add(f);
    return set;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [maskVersion, session]); // a new session clears the masks without a new maskVersion
  // Mask prompts (brush strokes) are in the server's list only, not in the replay copy: both go in.
  const analysis = useTrackAnalysis(
    masks.current,
    maskVersion,
    objects.map((o) => o.id),
    [...prompts.current.values(), ...editing.prompts],
    session?.numFrames ?? 0,
    session?.width ?? 1,
    session?.height ?? 1,
  );
  prop.coverage.current = { firstPrompt: analysis.promptedFrames[0] ?? null, tracked: analysis.trackedFrames };
  // The frame keys step from (see PlayerKeyDeps.current): the presented frame, or a seek's target.
  const keyFrame = useRef(0);
  const seekTo = (f: number) => {
    keyFrame.current = f;
    recordedView.current?.seek(f);
  };
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
    current: () => keyFrame.current,
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
  // A volume clip: the view on screen (asked for, else the one the session shows) and its picture's aspect.
  const volume = clip?.volume ?? null;
  const view: VolumeView | null = volume ? ((source?.kind === 'clip' ? source.view : undefined) ?? (session?.clip ? parseViewId(session.clip)?.view : undefined) ?? { plane: volume.plane }) : null;
  const openView = (v: VolumeView) => {
    if (!clip) return;
    const s: Source = { kind: 'clip', clip, view: v };
    setSource(s);
    void open(s, false);
  };
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
        <HeaderExtras
          clipProgress={panels.clipProgress}
          overlayOn={overlayOn}
          sessionId={session?.sessionId ?? null}
          canExport={session?.kind === 'recorded'}
          onExport={() => setExportOpen(true)}
          onHelp={() => setHelpOpen(true)}
        />
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
            {volume && view && <VolumeControls volume={volume} view={view} slices={session.numFrames ?? 0} onChange={openView} />}
            <RecordedView
              key={session.sessionId}
              handle={recordedView}
              hlsUrl={hlsUrlOf(clip, session.clip)}
              {...(volume && view ? { displayAspect: displayAspect(session.width, session.height, viewSpacing(volume, view.plane)), frameUnit: 'slice' as const } : {})}
              width={session.width}
              height={session.height}
              fps={session.fps}
              framePtsUs={session.framePtsUs ?? []}
              masks={masks.current}
              maskVersion={maskVersion}
              hidden={hidden}
              onPrompt={onPrompt}
              onFrame={(f) => {
                keyFrame.current = f;
                setCurrent(f);
              }}
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
        {session && session.kind === 'live' && (
          <LiveView
            key={session.sessionId}
            handle={liveView}
            width={session.width}
            height={session.height}
            hidden={hidden}
            objects={objects}
            pixelSpacingMm={session.pixelSpacingMm ?? null}
            maskStyle={look.style}
            onPrompt={onPrompt}
            onFreeze={(f) => requestLiveFreeze(conn.current, session.sessionId, f)}
          />
        )}
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
            if (s && name.trim()) conn.current!.request({ type: 'renameObject', sessionId: s.sessionId, objectId: id, name: name.trim() }).catch((e: unknown) => setStatus(errorLine(e)));
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
          <div className="panel-title">
            Keys <button onClick={() => setHelpOpen(true)}>all keys (?)</button>
          </div>
          click: positive point · right-click or Alt/Shift-click: negative · drag: box · click a marker: select, Delete: remove · Ctrl+Z / Ctrl+Shift+Z: undo / redo · B / E: brush / eraser, [ ]: size
          · , / . : frame step · space: play
        </div>
      </aside>
    </div>
  );
}
