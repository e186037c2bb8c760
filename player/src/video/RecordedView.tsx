/**
 * A recorded clip: hls.js video with a mask canvas painted on the frame the browser presents
 * (requestVideoFrameCallback gives that frame's media time; masks are keyed by PTS, so the
 * overlay can never show a neighbour's mask) and a prompt layer above it (the frame's points and
 * boxes, overlay/prompt-layer.ts). Click = positive point, right-click or Alt/Shift-click =
 * negative, drag = box, click on a marker = select it; with the brush or eraser (edit/brush.ts) a
 * drag paints the active object's mask of this frame and the stroke is handed over on release.
 * `,` and `.` step one frame. The stage is scaled to fit the space its parent leaves (container
 * query units), so small and tall clips never push the controls below the window's edge.
 */
import Hls from 'hls.js';
import { useCallback, useEffect, useImperativeHandle, useRef, useState, type CSSProperties, type Ref } from 'react';
import type { RleCounts } from '../../../engine/src/mask/rle.js';
import { MaskBrush, type EditTool } from '../edit/brush.js';
import { objectColor, type Rgb } from '../overlay/colors.js';
import { paintMasks, type MaskStyle, type ObjectMask } from '../overlay/paint.js';
import { drawPrompts, hitPrompt, type PromptMark } from '../overlay/prompt-layer.js';
import { hooks } from '../test-hooks.js';
import { frameAtMediaTime, seekTimeOfFrame } from './frame-time.js';

export type Prompt = { kind: 'point'; frame: number; x: number; y: number; label: 0 | 1 } | { kind: 'box'; frame: number; box: [number, number, number, number] };

/** A finished brush or eraser stroke: the object's whole new mask on that frame. */
export interface MaskEdit {
  frame: number;
  objectId: number;
  rle: RleCounts;
  /** Pixels the stroke changed. */
  changed: number;
}

export interface RecordedViewHandle {
  seek(frame: number): void;
}

export interface RecordedViewProps {
  hlsUrl: string;
  width: number;
  height: number;
  fps: number;
  framePtsUs: readonly number[];
  masks: ReadonlyMap<number, ReadonlyMap<number, ObjectMask>>;
  maskVersion: number;
  hidden: ReadonlySet<number>;
  onPrompt(p: Prompt): void;
  onFrame(frame: number): void;
  handle: Ref<RecordedViewHandle>;
  /** The session's prompts (all frames; the view draws the presented frame's). */
  prompts?: readonly PromptMark[];
  selectedPrompt?: PromptMark['promptId'] | null;
  onSelectPrompt?(id: PromptMark['promptId'] | null): void;
  tool?: EditTool;
  /** Brush radius in video pixels. */
  brushRadius?: number;
  /** The object the brush paints. */
  activeObject?: number;
  onMaskEdit?(e: MaskEdit): void;
  maskStyle?: MaskStyle;
  colorOf?: (objectId: number) => Rgb;
  /** A line under the video (an empty mask, an absent object). */
  notice?: string | null;
  /** Width / height to draw the picture at (a volume's pixels stretched by their spacing; default width / height). */
  displayAspect?: number;
  /** 'slice': a volume's slices, labelled "slice k / n" (1-based) instead of "frame k / last". */
  frameUnit?: 'frame' | 'slice';
}

const NO_PROMPTS: readonly PromptMark[] = [];

export function RecordedView(p: RecordedViewProps) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const layerRef = useRef<HTMLCanvasElement>(null);
  const [frame, setFrame] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [drag, setDrag] = useState<{ x0: number; y0: number; x1: number; y1: number; negative: boolean } | null>(null);
  const [cursor, setCursor] = useState<{ x: number; y: number } | null>(null);
  const stroke = useRef<{ brush: MaskBrush; frame: number; objectId: number; value: 0 | 1 } | null>(null);
  const strokePaint = useRef(0);
  const frameRef = useRef(0);
  const relPts = useRef<number[]>([]);
  // Media time of frame 0 on the element's timeline. HLS (MPEG-TS) shifts timestamps by the
  // decoder delay (B-frames), so it is measured: the start of the buffered media is frame 0's PTS.
  // (The media time of the first presented frame is not reliable: a player may nudge past a gap.)
  const offset = useRef<number | null>(null);
  relPts.current = p.framePtsUs.map((t) => (t - p.framePtsUs[0]!) / 1e6);
  const latest = useRef(p);
  latest.current = p;
  const tool = p.tool ?? 'prompt';

  /** The presented frame's prompts of visible objects. */
  const marksOn = (f: number) => (latest.current.prompts ?? NO_PROMPTS).filter((m) => m.frame === f && !latest.current.hidden.has(m.objectId));

  const paintLayer = useCallback((f: number) => {
    const c = layerRef.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const marks = marksOn(f);
    const sel = latest.current.selectedPrompt ?? null;
    const colorOf = latest.current.colorOf ?? objectColor;
    drawPrompts(c.getContext('2d')!, marks, { sx: w / latest.current.width, sy: h / latest.current.height, dpr }, colorOf, sel);
    hooks.drawnPrompts = marks.map((m) => ({
      promptId: m.promptId,
      objectId: m.objectId,
      frame: m.frame,
      kind: m.kind,
      points: m.points.map((q) => ({ x: q.x, y: q.y, label: q.label })),
      ...(m.box ? { box: [...m.box] as [number, number, number, number] } : {}),
      selected: m.promptId === sel,
    }));
  }, []);

  const paint = useCallback(
    (f: number) => {
      const c = canvasRef.current;
      if (!c) return;
      const ctx = c.getContext('2d')!;
      const l = latest.current;
      let m: Iterable<ObjectMask> = l.masks.get(f)?.values() ?? [];
      // A stroke in progress shows in place of its object's mask.
      const s = stroke.current;
      if (s && s.frame === f) m = [...[...m].filter((o) => o.objectId !== s.objectId), { objectId: s.objectId, counts: Uint32Array.from(s.brush.toRle().counts), score: 0 }];
      paintMasks(ctx, l.width, l.height, m, l.hidden, { ...l.maskStyle, ...(l.colorOf ? { colorOf: l.colorOf } : {}) });
      hooks.overlayFrame = f;
      paintLayer(f);
    },
    [paintLayer],
  );

  // hls.js where MSE exists, native HLS elsewhere (Safari).
  useEffect(() => {
    const v = videoRef.current!;
    let hls: Hls | null = null;
    if (Hls.isSupported()) {
      hls = new Hls({ enableWorker: true });
      hls.loadSource(p.hlsUrl);
      hls.attachMedia(v);
    } else {
      v.src = p.hlsUrl;
    }
    return () => {
      hls?.destroy();
      v.removeAttribute('src');
      v.load();
    };
  }, [p.hlsUrl]);

  // Paint on every presented frame.
  useEffect(() => {
    const v = videoRef.current!;
    let id = 0;
    let alive = true;
    const onFrame = (_now: number, meta: VideoFrameCallbackMetadata) => {
      if (!alive) return;
      offset.current ??= v.buffered.length > 0 ? v.buffered.start(0) : meta.mediaTime;
      const f = frameAtMediaTime(relPts.current, meta.mediaTime - offset.current);
      hooks.presentedFrame = f;
      hooks.presentedMediaTime = meta.mediaTime;
      hooks.frame0MediaTime = offset.current;
      frameRef.current = f;
      paint(f);
      setFrame(f);
      latest.current.onFrame(f);
      id = v.requestVideoFrameCallback(onFrame);
    };
    id = v.requestVideoFrameCallback(onFrame);
    return () => {
      alive = false;
      v.cancelVideoFrameCallback(id);
    };
  }, [paint]);

  // New masks, prompts, selection or style for the frame on screen: repaint now, not at the next presented frame.
  useEffect(() => paint(frameRef.current), [p.maskVersion, p.hidden, p.prompts, p.selectedPrompt, p.maskStyle, p.colorOf, paint]);

  // The prompt layer is drawn in screen pixels: redraw when the stage changes size.
  useEffect(() => {
    const c = layerRef.current;
    if (!c) return;
    const ro = new ResizeObserver(() => paintLayer(frameRef.current));
    ro.observe(c);
    return () => ro.disconnect();
  }, [paintLayer]);

  const seek = useCallback((f: number) => {
    const v = videoRef.current!;
    if (offset.current === null) return;
    v.pause();
    // Aim at the middle of the frame's display interval so rounding cannot land on a neighbour.
    v.currentTime = seekTimeOfFrame(relPts.current, f, latest.current.fps, offset.current);
  }, []);
  useImperativeHandle(p.handle, () => ({ seek }), [seek]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === '.') seek(frameRef.current + 1);
      else if (e.key === ',') seek(frameRef.current - 1);
      else if (e.key === ' ') {
        e.preventDefault();
        const v = videoRef.current!;
        if (v.paused) void v.play();
        else v.pause();
      } else return;
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [seek]);

  const toVideo = (e: React.PointerEvent) => {
    const r = canvasRef.current!.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * p.width, y: ((e.clientY - r.top) / r.height) * p.height };
  };
  /** Repaints the stroke's frame once per animation frame however fast the pointer moves. */
  const paintStroke = () => {
    if (strokePaint.current) return;
    strokePaint.current = requestAnimationFrame(() => {
      strokePaint.current = 0;
      paint(frameRef.current);
    });
  };
  const radius = p.brushRadius ?? 8;
  const clamp = (v: number, m: number) => Math.min(m, Math.max(0, v));

  const onPointerDown = (e: React.PointerEvent<HTMLCanvasElement>) => {
    if (e.button !== 0 && e.button !== 2) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    const q = toVideo(e);
    if (tool !== 'prompt' && e.button === 0) {
      videoRef.current!.pause();
      const objectId = p.activeObject ?? 1;
      const f = frameRef.current;
      const brush = new MaskBrush(p.width, p.height, p.masks.get(f)?.get(objectId)?.counts);
      const value = tool === 'brush' ? 1 : 0;
      brush.moveTo(q.x, q.y, radius, value);
      stroke.current = { brush, frame: f, objectId, value };
      paintStroke();
      return;
    }
    if (e.button === 0 && !e.altKey && !e.shiftKey) {
      const r = e.currentTarget.getBoundingClientRect();
      const hit = hitPrompt(marksOn(frameRef.current), e.clientX - r.left, e.clientY - r.top, { sx: r.width / p.width, sy: r.height / p.height });
      if (hit) {
        p.onSelectPrompt?.(hit.promptId);
        return;
      }
    }
    if ((p.selectedPrompt ?? null) !== null) p.onSelectPrompt?.(null);
    setDrag({ x0: q.x, y0: q.y, x1: q.x, y1: q.y, negative: e.button === 2 });
  };

  const onPointerMove = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const q = toVideo(e);
    if (tool !== 'prompt') setCursor(q);
    const s = stroke.current;
    if (s) {
      s.brush.moveTo(q.x, q.y, radius, s.value);
      paintStroke();
      return;
    }
    if (drag && !drag.negative) setDrag({ ...drag, x1: q.x, y1: q.y });
  };

  const onPointerUp = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const s = stroke.current;
    if (s) {
      stroke.current = null;
      s.brush.lift();
      if (s.brush.changed > 0) p.onMaskEdit?.({ frame: s.frame, objectId: s.objectId, rle: s.brush.toRle(), changed: s.brush.changed });
      paint(frameRef.current);
      return;
    }
    if (!drag) return;
    const q = toVideo(e);
    setDrag(null);
    videoRef.current!.pause();
    const f = frameRef.current;
    if (drag.negative || Math.hypot(q.x - drag.x0, q.y - drag.y0) < 6) {
      const x = drag.negative ? drag.x0 : q.x;
      const y = drag.negative ? drag.y0 : q.y;
      p.onPrompt({ kind: 'point', frame: f, x: clamp(x, p.width), y: clamp(y, p.height), label: drag.negative || e.altKey || e.shiftKey ? 0 : 1 });
    } else {
      const x0 = clamp(Math.min(drag.x0, q.x), p.width);
      const y0 = clamp(Math.min(drag.y0, q.y), p.height);
      const x1 = clamp(Math.max(drag.x0, q.x), p.width);
      const y1 = clamp(Math.max(drag.y0, q.y), p.height);
      p.onPrompt({ kind: 'box', frame: f, box: [x0, y0, x1, y1] });
    }
  };

  const ar = p.displayAspect ?? p.width / p.height;
  const stageStyle = { '--ar': String(ar), aspectRatio: String(ar) } as CSSProperties;
  return (
    <div className="viewer recorded">
      <div className="stage-box">
        <div className="stage" style={stageStyle} data-testid="stage">
          <video ref={videoRef} muted playsInline onPlay={() => setPlaying(true)} onPause={() => setPlaying(false)} />
          <canvas
            ref={canvasRef}
            className={tool === 'prompt' ? 'overlay' : 'overlay painting'}
            width={p.width}
            height={p.height}
            data-testid="overlay"
            onContextMenu={(e) => e.preventDefault()}
            onPointerDown={onPointerDown}
            onPointerMove={onPointerMove}
            onPointerUp={onPointerUp}
            onPointerLeave={() => setCursor(null)}
          />
          <canvas ref={layerRef} className="prompt-layer" data-testid="prompt-layer" />
          {drag && !drag.negative && Math.hypot(drag.x1 - drag.x0, drag.y1 - drag.y0) >= 6 && (
            <div
              className="dragbox"
              style={{
                left: `${(Math.min(drag.x0, drag.x1) / p.width) * 100}%`,
                top: `${(Math.min(drag.y0, drag.y1) / p.height) * 100}%`,
                width: `${(Math.abs(drag.x1 - drag.x0) / p.width) * 100}%`,
                height: `${(Math.abs(drag.y1 - drag.y0) / p.height) * 100}%`,
              }}
            />
          )}
          {tool !== 'prompt' && cursor && (
            <div
              className={`brush-cursor ${tool}`}
              data-testid="brush-cursor"
              style={{
                left: `${((cursor.x - radius) / p.width) * 100}%`,
                top: `${((cursor.y - radius) / p.height) * 100}%`,
                width: `${((2 * radius) / p.width) * 100}%`,
                height: `${((2 * radius) / p.height) * 100}%`,
              }}
            />
          )}
        </div>
      </div>
      <div className="controls">
        <button onClick={() => seek(frame - 1)} title="previous frame (,)">
          ◀ ,
        </button>
        <button
          onClick={() => {
            const v = videoRef.current!;
            if (v.paused) void v.play();
            else v.pause();
          }}
          title="play / pause (space)"
        >
          {playing ? 'pause' : 'play'}
        </button>
        <button onClick={() => seek(frame + 1)} title="next frame (.)">
          . ▶
        </button>
        <span className="frame-label" data-testid="frame-label">
          {p.frameUnit === 'slice' ? `slice ${frame + 1} / ${p.framePtsUs.length}` : `frame ${frame} / ${p.framePtsUs.length - 1}`}
        </span>
        {tool !== 'prompt' && (
          <span className="tool-label" data-testid="tool-label">
            {tool} · radius {radius} px
          </span>
        )}
        {p.notice && (
          <span className="notice" data-testid="notice" role="status">
            {p.notice}
          </span>
        )}
      </div>
    </div>
  );
}
