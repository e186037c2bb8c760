/**
 * The live view: the server sends each frame's picture (JPEG) as soon as it is encoded, then the
 * frame's masks once tracked, then the frame message that completes it. The picture is decoded
 * while the server tracks and the overlay is rasterized when the frame completes, so the next
 * animation frame only draws both. The time from the frame leaving the server's decoder to that
 * paint is the glass-to-glass latency shown (both clocks are the machine's wall clock, so this is
 * exact on one machine).
 *
 * Prompts: click = positive point, Alt/Shift-click or right-click = negative, drag = box (a new
 * object's box goes out with `newObject`, like its first click).
 * Freeze (button or `f`): the picture stops on the frame on screen and the server is asked to keep
 * that frame promptable (live/live-freeze.ts) while it goes on tracking; clicks and boxes then land
 * on the frozen frame, its new masks are painted on it, and resume shows the newest frame again.
 * Each object's area on the frame on screen is listed, in mm² where the source states its pixel
 * size (live/mask-area.ts).
 */
import { useCallback, useEffect, useImperativeHandle, useRef, useState, type PointerEvent as ReactPointerEvent, type Ref } from 'react';
import { createWallClock, type LiveFrame } from '../../../engine/src/protocol.js';
import { liveHooks } from '../live/live-hooks.js';
import { areaMm2, formatArea, maskPixels } from '../live/mask-area.js';
import type { LiveFrameTarget } from '../overlay/mask-inbox.js';
import { colorOf, rasterizeMasks, type MaskStyle, type ObjectMask } from '../overlay/paint.js';
import { hooks, recordLivePaint } from '../test-hooks.js';
import type { Prompt } from './RecordedView.js';
import { errorLine } from '../client-error.js';

/** What App (through overlay/mask-inbox.ts) calls on the live view with each live message. */
export type LiveViewHandle = LiveFrameTarget;

export interface LiveViewProps {
  width: number;
  height: number;
  hidden: ReadonlySet<number>;
  /** The objects listed beside the view (their names label the areas; a removed one is not painted while frozen). */
  objects: readonly { id: number; name: string }[];
  /** Pixel size in mm [row, column] when the source states it: areas are shown in mm². */
  pixelSpacingMm?: [number, number] | null;
  /** How masks look (colours, opacity, outline), as in the recorded view. */
  maskStyle?: MaskStyle;
  onPrompt(p: Prompt): void;
  /** Freezes on a frame (resolves with the frame the server keeps) or, with null, resumes. */
  onFreeze(frame: number | null): Promise<number | null>;
  handle: Ref<LiveViewHandle>;
}

/** The clock the server stamps frames with (system clock, sub-ms steps). */
const wallMs = createWallClock();
/** A drag shorter than this (video pixels) is a click. */
const DRAG_MIN = 6;

function decodeJpeg(jpeg: Uint8Array): Promise<ImageBitmap | null> {
  return createImageBitmap(new Blob([jpeg as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' })).catch(() => null);
}

function closeLater(p: Promise<ImageBitmap | null>): void {
  void p.then((b) => b?.close());
}

type Mark = { kind: 'point'; x: number; y: number; label: 0 | 1 } | { kind: 'box'; box: [number, number, number, number] };
type AreaRow = { objectId: number; pixels: number; mm2: number | null };

export function LiveView(p: LiveViewProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<HTMLCanvasElement>(null);
  const masksByFrame = useRef(new Map<number, ObjectMask[]>());
  const pictures = useRef(new Map<number, Promise<ImageBitmap | null>>());
  const pendingPaint = useRef<{ bitmap: ImageBitmap; frame: LiveFrame; overlay: ImageData; masks: ObjectMask[]; arrivedMs: number } | null>(null);
  const shown = useRef(-1);
  /** The masks of the frame on screen (for its areas, and to start a frozen overlay from). */
  const shownMasks = useRef<ObjectMask[]>([]);
  /** Overlay images already put on the canvas, for the next frames to reuse. */
  const spareOverlays = useRef<ImageData[]>([]);
  const [stats, setStats] = useState({ latency: 0, p50: 0, drops: 0, painted: 0, frame: -1 });
  const [areas, setAreas] = useState<AreaRow[]>([]);
  const hidden = useRef(p.hidden);
  hidden.current = p.hidden;
  const objectsRef = useRef(p.objects);
  objectsRef.current = p.objects;
  const spacing = useRef(p.pixelSpacingMm ?? null);
  spacing.current = p.pixelSpacingMm ?? null;
  const style = useRef<MaskStyle | undefined>(p.maskStyle);
  style.current = p.maskStyle;

  /** Frozen: the frame prompts go to (the server's ack, else the one asked for); null: live. */
  const frozen = useRef<number | null>(null);
  /** The frozen frame's masks by object, updated as prompts on it come back. */
  const frozenMasks = useRef(new Map<number, ObjectMask>());
  const [frozenAt, setFrozenAt] = useState<number | null>(null);
  const [freezeNote, setFreezeNote] = useState('');
  const [marks, setMarks] = useState<Mark[]>([]);
  const [drag, setDrag] = useState<{ x0: number; y0: number; x1: number; y1: number } | null>(null);

  const measure = useCallback((masks: readonly ObjectMask[]): AreaRow[] => {
    const rows = masks.map((m) => {
      const pixels = maskPixels(m.counts);
      return { objectId: m.objectId, pixels, mm2: areaMm2(pixels, spacing.current) };
    });
    rows.sort((a, b) => a.objectId - b.objectId);
    liveHooks.areas = rows;
    return rows;
  }, []);

  /** Paints the frozen frame's overlay again (a prompt's mask came, an object was hidden or removed). */
  const repaintFrozen = useCallback(() => {
    const octx = overlayRef.current?.getContext('2d');
    if (!octx || frozen.current === null) return;
    const known = new Set(objectsRef.current.map((o) => o.id));
    const masks = [...frozenMasks.current.values()].filter((m) => known.has(m.objectId));
    octx.putImageData(rasterizeMasks(p.width, p.height, masks, hidden.current, undefined, style.current), 0, 0);
    setAreas(measure(masks));
  }, [measure, p.width, p.height]);

  const paintNow = useCallback(() => {
    const job = pendingPaint.current;
    pendingPaint.current = null;
    if (!job) return;
    const ctx = canvasRef.current?.getContext('2d');
    const octx = overlayRef.current?.getContext('2d');
    if (!ctx || !octx || frozen.current !== null) {
      // Frozen meanwhile: the picture on screen stays.
      job.bitmap.close();
      spareOverlays.current.push(job.overlay);
      return;
    }
    ctx.drawImage(job.bitmap, 0, 0);
    job.bitmap.close();
    octx.putImageData(job.overlay, 0, 0);
    spareOverlays.current.push(job.overlay);
    shown.current = job.frame.frame;
    shownMasks.current = job.masks;
    liveHooks.shownFrame = job.frame.frame;
    liveHooks.painted++;
    const paintMs = wallMs();
    const latency = paintMs - job.frame.sourceMs;
    recordLivePaint({ frame: job.frame.frame, paintMs, arrivedMs: job.arrivedMs, latencyMs: latency, serverMs: (job.frame.serverUs ?? 0) / 1000 });
    hooks.liveDrops = job.frame.drops;
    const rows = measure(job.masks);
    if (hooks.livePainted % 10 === 1) {
      const recent = hooks.liveLatenciesMs.slice(-100).sort((a, b) => a - b);
      setStats({ latency, p50: recent[Math.floor(recent.length / 2)] ?? 0, drops: job.frame.drops, painted: hooks.livePainted, frame: job.frame.frame });
      setAreas(rows);
    }
  }, [measure]);

  useImperativeHandle(
    p.handle,
    () => ({
      onMask(m) {
        const mask = { objectId: m.objectId, counts: m.counts, score: m.score };
        if (frozen.current !== null && m.frame === frozen.current) {
          frozenMasks.current.set(m.objectId, mask);
          requestAnimationFrame(repaintFrozen);
        }
        let l = masksByFrame.current.get(m.frame);
        if (!l) masksByFrame.current.set(m.frame, (l = []));
        l.push(mask);
      },
      onPicture(pic) {
        // Frozen: no picture is shown, so none is decoded.
        if (frozen.current === null) pictures.current.set(pic.frame, decodeJpeg(pic.jpeg));
      },
      onFrame(f) {
        const arrivedMs = wallMs();
        const masks = masksByFrame.current.get(f.frame) ?? [];
        for (const k of masksByFrame.current.keys()) if (k <= f.frame) masksByFrame.current.delete(k);
        let picture = pictures.current.get(f.frame) ?? null;
        for (const [k, pic] of pictures.current) {
          if (k > f.frame) continue;
          pictures.current.delete(k);
          if (k < f.frame) closeLater(pic); // a picture whose frame never completed
        }
        if (frozen.current !== null) {
          if (picture) closeLater(picture);
          return;
        }
        if (f.jpeg.length > 0) {
          if (picture) closeLater(picture);
          picture = decodeJpeg(f.jpeg);
        }
        if (!picture) {
          hooks.liveClientDrops++;
          return;
        }
        const overlay = rasterizeMasks(p.width, p.height, masks, hidden.current, spareOverlays.current.pop(), style.current);
        void picture.then((bitmap) => {
          if (!bitmap) {
            spareOverlays.current.push(overlay);
            hooks.liveClientDrops++;
            return;
          }
          // Newest wins here too: a frame still waiting for its paint is replaced.
          if (pendingPaint.current) {
            pendingPaint.current.bitmap.close();
            spareOverlays.current.push(pendingPaint.current.overlay);
            hooks.liveClientDrops++;
          }
          pendingPaint.current = { bitmap, frame: f, overlay, masks, arrivedMs };
          requestAnimationFrame(paintNow);
        });
      },
    }),
    [paintNow, repaintFrozen, p.width, p.height],
  );

  const { onFreeze } = p;
  const toggleFreeze = useCallback(async () => {
    if (frozen.current === null) {
      const f = shown.current;
      if (f < 0) return;
      // The picture stops now; prompts go to this frame until the server says which it keeps.
      frozen.current = f;
      frozenMasks.current = new Map(shownMasks.current.map((m) => [m.objectId, m]));
      setFrozenAt(f);
      setMarks([]);
      setFreezeNote('');
      try {
        const at = await onFreeze(f);
        if (frozen.current !== f || at === null) return;
        frozen.current = at;
        liveHooks.frozenFrame = at;
        setFrozenAt(at);
        if (at !== f) {
          // This viewer was further behind than the server holds: prompts go to the newest frame it had.
          frozenMasks.current.clear();
          setFreezeNote(`frame ${f} had passed on the server: prompts go to frame ${at}`);
        }
      } catch (e) {
        frozen.current = null;
        liveHooks.frozenFrame = null;
        setFrozenAt(null);
        setFreezeNote(`freeze failed: ${errorLine(e)}`);
      }
      return;
    }
    frozen.current = null;
    liveHooks.frozenFrame = null;
    frozenMasks.current.clear();
    setFrozenAt(null);
    setMarks([]);
    setFreezeNote('');
    await onFreeze(null).catch((e: unknown) => setFreezeNote(`resume: ${errorLine(e)}`));
  }, [onFreeze]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) return;
      if (e.key === 'f' || e.key === 'F') {
        e.preventDefault();
        void toggleFreeze();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [toggleFreeze]);

  // A hidden or removed object leaves the frozen picture too.
  useEffect(() => {
    if (frozen.current !== null) repaintFrozen();
  }, [p.hidden, p.objects, p.maskStyle, repaintFrozen]);

  useEffect(
    () => () => {
      pendingPaint.current?.bitmap.close();
      for (const pic of pictures.current.values()) closeLater(pic);
      pictures.current.clear();
      liveHooks.frozenFrame = null;
    },
    [],
  );

  const toVideo = (e: ReactPointerEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    return { x: Math.max(0, Math.min(p.width, ((e.clientX - r.left) / r.width) * p.width)), y: Math.max(0, Math.min(p.height, ((e.clientY - r.top) / r.height) * p.height)) };
  };
  const promptFrame = () => frozen.current ?? Math.max(0, shown.current);
  const active = p.objects.length ? p.objects : [];
  const mark = (m: Mark) => {
    if (frozen.current !== null) setMarks((ms) => [...ms, m]);
  };

  const onPointerDown = (e: ReactPointerEvent<HTMLCanvasElement>) => {
    const q = toVideo(e);
    if (e.button === 2) {
      p.onPrompt({ kind: 'point', frame: promptFrame(), x: q.x, y: q.y, label: 0 });
      mark({ kind: 'point', x: q.x, y: q.y, label: 0 });
      return;
    }
    if (e.button !== 0) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    setDrag({ x0: q.x, y0: q.y, x1: q.x, y1: q.y });
  };
  const onPointerMove = (e: ReactPointerEvent<HTMLCanvasElement>) => {
    if (!drag) return;
    const q = toVideo(e);
    setDrag({ ...drag, x1: q.x, y1: q.y });
  };
  const onPointerUp = (e: ReactPointerEvent<HTMLCanvasElement>) => {
    if (!drag) return;
    const q = toVideo(e);
    setDrag(null);
    const frame = promptFrame();
    if (Math.hypot(q.x - drag.x0, q.y - drag.y0) < DRAG_MIN) {
      const label = e.altKey || e.shiftKey ? 0 : 1;
      p.onPrompt({ kind: 'point', frame, x: q.x, y: q.y, label });
      mark({ kind: 'point', x: q.x, y: q.y, label });
      return;
    }
    const box: [number, number, number, number] = [Math.min(drag.x0, q.x), Math.min(drag.y0, q.y), Math.max(drag.x0, q.x), Math.max(drag.y0, q.y)];
    liveHooks.lastBox = box;
    p.onPrompt({ kind: 'box', frame, box });
    mark({ kind: 'box', box });
  };

  const pct = (v: number, of: number) => `${(v / of) * 100}%`;
  const nameOf = (id: number) => active.find((o) => o.id === id)?.name ?? `object ${id}`;
  return (
    <div className="viewer">
      <div className="stage" style={{ aspectRatio: `${p.width} / ${p.height}` }} data-frozen={frozenAt ?? undefined}>
        <canvas ref={canvasRef} className="live-frame" width={p.width} height={p.height} />
        <canvas
          ref={overlayRef}
          className="overlay"
          width={p.width}
          height={p.height}
          data-testid="overlay"
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerCancel={() => setDrag(null)}
          onContextMenu={(e) => e.preventDefault()}
        />
        {drag && Math.hypot(drag.x1 - drag.x0, drag.y1 - drag.y0) >= DRAG_MIN && (
          <div
            className="dragbox"
            data-testid="live-dragbox"
            style={{
              left: pct(Math.min(drag.x0, drag.x1), p.width),
              top: pct(Math.min(drag.y0, drag.y1), p.height),
              width: pct(Math.abs(drag.x1 - drag.x0), p.width),
              height: pct(Math.abs(drag.y1 - drag.y0), p.height),
            }}
          />
        )}
        {marks.map((m, i) =>
          m.kind === 'box' ? (
            <div
              key={i}
              className="dragbox"
              data-testid="live-mark"
              style={{ left: pct(m.box[0], p.width), top: pct(m.box[1], p.height), width: pct(m.box[2] - m.box[0], p.width), height: pct(m.box[3] - m.box[1], p.height), borderStyle: 'solid' }}
            />
          ) : (
            <div
              key={i}
              data-testid="live-mark"
              style={{
                position: 'absolute',
                left: pct(m.x, p.width),
                top: pct(m.y, p.height),
                width: 10,
                height: 10,
                marginLeft: -5,
                marginTop: -5,
                borderRadius: '50%',
                border: '2px solid #fff',
                background: m.label ? '#2ecc71' : '#e74c3c',
                pointerEvents: 'none',
              }}
            />
          ),
        )}
        {frozenAt !== null && (
          <div
            data-testid="frozen-badge"
            style={{ position: 'absolute', left: 8, top: 8, padding: '2px 8px', borderRadius: 4, background: '#1e6bd6', color: '#fff', fontSize: 12, pointerEvents: 'none' }}
          >
            ❚❚ frozen on frame {frozenAt} — annotate, then resume (f)
          </div>
        )}
      </div>
      <div className="controls live-stats" data-testid="live-stats">
        <button data-testid="freeze" onClick={() => void toggleFreeze()} title="freeze / resume (f)">
          {frozenAt === null ? '❚❚ Freeze' : '▶ Resume'}
        </button>
        <span>live</span>
        <span data-testid="live-frame">frame {frozenAt ?? stats.frame}</span>
        <span>
          latency {stats.latency.toFixed(0)} ms (p50 {stats.p50.toFixed(0)} ms)
        </span>
        <span>dropped {stats.drops}</span>
        <span>painted {stats.painted}</span>
        {freezeNote && <span data-testid="freeze-note">{freezeNote}</span>}
      </div>
      {areas.length > 0 && (
        <div className="controls live-stats" data-testid="live-areas">
          {areas.map((a) => {
            const [r, g, b] = colorOf(a.objectId);
            return (
              <span key={a.objectId} data-area-object={a.objectId}>
                <span style={{ display: 'inline-block', width: 10, height: 10, marginRight: 6, background: `rgb(${r},${g},${b})` }} />
                {nameOf(a.objectId)}: {formatArea(a.pixels, p.pixelSpacingMm)}
              </span>
            );
          })}
        </div>
      )}
    </div>
  );
}
