/**
 * A recorded clip: hls.js video with a canvas overlay painted on the frame the browser presents
 * (requestVideoFrameCallback gives that frame's media time; masks are keyed by PTS, so the
 * overlay can never show a neighbour's mask). Click = positive point, Alt/Shift-click = negative,
 * drag = box; `,` and `.` step one frame.
 */
import Hls from 'hls.js';
import { useCallback, useEffect, useImperativeHandle, useRef, useState, type Ref } from 'react';
import { paintMasks, type ObjectMask } from '../overlay/paint.js';
import { hooks } from '../test-hooks.js';
import { frameAtMediaTime, seekTimeOfFrame } from './frame-time.js';

export type Prompt = { kind: 'point'; frame: number; x: number; y: number; label: 0 | 1 } | { kind: 'box'; frame: number; box: [number, number, number, number] };

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
}

export function RecordedView(p: RecordedViewProps) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [frame, setFrame] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [drag, setDrag] = useState<{ x0: number; y0: number; x1: number; y1: number } | null>(null);
  const frameRef = useRef(0);
  const relPts = useRef<number[]>([]);
  // Media time of frame 0 on the element's timeline. HLS (MPEG-TS) shifts timestamps by the
  // decoder delay (B-frames), so it is measured: the start of the buffered media is frame 0's PTS.
  // (The media time of the first presented frame is not reliable: a player may nudge past a gap.)
  const offset = useRef<number | null>(null);
  relPts.current = p.framePtsUs.map((t) => (t - p.framePtsUs[0]!) / 1e6);
  const latest = useRef(p);
  latest.current = p;

  const paint = useCallback((f: number) => {
    const c = canvasRef.current;
    if (!c) return;
    const ctx = c.getContext('2d')!;
    const m = latest.current.masks.get(f);
    paintMasks(ctx, latest.current.width, latest.current.height, m ? m.values() : [], latest.current.hidden);
    hooks.overlayFrame = f;
  }, []);

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

  // New masks for the frame on screen: repaint now, not at the next presented frame.
  useEffect(() => paint(frameRef.current), [p.maskVersion, p.hidden, paint]);

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

  return (
    <div className="viewer">
      <div className="stage" style={{ aspectRatio: `${p.width} / ${p.height}` }}>
        <video
          ref={videoRef}
          muted
          playsInline
          onPlay={() => setPlaying(true)}
          onPause={() => setPlaying(false)}
        />
        <canvas
          ref={canvasRef}
          className="overlay"
          width={p.width}
          height={p.height}
          data-testid="overlay"
          onPointerDown={(e) => {
            e.currentTarget.setPointerCapture(e.pointerId);
            const q = toVideo(e);
            setDrag({ x0: q.x, y0: q.y, x1: q.x, y1: q.y });
          }}
          onPointerMove={(e) => drag && setDrag({ ...drag, ...(({ x, y }) => ({ x1: x, y1: y }))(toVideo(e)) })}
          onPointerUp={(e) => {
            if (!drag) return;
            const q = toVideo(e);
            setDrag(null);
            videoRef.current!.pause();
            const f = frameRef.current;
            const clamp = (v: number, m: number) => Math.min(m, Math.max(0, v));
            if (Math.hypot(q.x - drag.x0, q.y - drag.y0) < 6) {
              p.onPrompt({ kind: 'point', frame: f, x: clamp(q.x, p.width), y: clamp(q.y, p.height), label: e.altKey || e.shiftKey ? 0 : 1 });
            } else {
              const x0 = clamp(Math.min(drag.x0, q.x), p.width);
              const y0 = clamp(Math.min(drag.y0, q.y), p.height);
              const x1 = clamp(Math.max(drag.x0, q.x), p.width);
              const y1 = clamp(Math.max(drag.y0, q.y), p.height);
              p.onPrompt({ kind: 'box', frame: f, box: [x0, y0, x1, y1] });
            }
          }}
        />
        {drag && Math.hypot(drag.x1 - drag.x0, drag.y1 - drag.y0) >= 6 && (
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
      </div>
      <div className="controls">
        <button onClick={() => seek(frame - 1)} title="previous frame (,)">◀ ,</button>
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
        <button onClick={() => seek(frame + 1)} title="next frame (.)">. ▶</button>
        <span className="frame-label" data-testid="frame-label">
          frame {frame} / {p.framePtsUs.length - 1}
        </span>
      </div>
    </div>
  );
}
