/**
 * The live view: the server sends each tracked frame's masks, then the frame as a JPEG with the
 * same index; the picture and its overlay are painted together at the next animation frame, and
 * the time from the frame leaving the server's decoder to that paint is the glass-to-glass
 * latency shown (both clocks are the machine's wall clock, so this is exact on one machine).
 */
import { useCallback, useEffect, useImperativeHandle, useRef, useState, type Ref } from 'react';
import { createWallClock, type LiveFrame, type MaskFrame } from '../../../engine/src/protocol.js';
import { paintMasks, type ObjectMask } from '../overlay/paint.js';
import { hooks } from '../test-hooks.js';
import type { Prompt } from './RecordedView.js';

export interface LiveViewHandle {
  onMask(m: MaskFrame & { counts: Uint32Array }): void;
  onFrame(f: LiveFrame): void;
}

export interface LiveViewProps {
  width: number;
  height: number;
  hidden: ReadonlySet<number>;
  onPrompt(p: Prompt): void;
  handle: Ref<LiveViewHandle>;
}

/** The clock the server stamps frames with (system clock, sub-ms steps). */
const wallMs = createWallClock();

export function LiveView(p: LiveViewProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<HTMLCanvasElement>(null);
  const masksByFrame = useRef(new Map<number, ObjectMask[]>());
  const pendingPaint = useRef<{ bitmap: ImageBitmap; frame: LiveFrame; masks: ObjectMask[] } | null>(null);
  const shown = useRef(-1);
  const [stats, setStats] = useState({ latency: 0, p50: 0, drops: 0, painted: 0 });
  const hidden = useRef(p.hidden);
  hidden.current = p.hidden;

  const paintNow = useCallback(() => {
    const job = pendingPaint.current;
    pendingPaint.current = null;
    if (!job) return;
    const ctx = canvasRef.current?.getContext('2d');
    const octx = overlayRef.current?.getContext('2d');
    if (!ctx || !octx) return;
    ctx.drawImage(job.bitmap, 0, 0);
    job.bitmap.close();
    paintMasks(octx, p.width, p.height, job.masks, hidden.current);
    shown.current = job.frame.frame;
    const latency = wallMs() - job.frame.sourceMs;
    hooks.liveLatenciesMs.push(latency);
    hooks.liveServerMs.push((job.frame.serverUs ?? 0) / 1000);
    hooks.liveDrops = job.frame.drops;
    hooks.livePainted++;
    if (hooks.livePainted % 10 === 1) {
      const recent = hooks.liveLatenciesMs.slice(-100).sort((a, b) => a - b);
      setStats({ latency, p50: recent[Math.floor(recent.length / 2)] ?? 0, drops: job.frame.drops, painted: hooks.livePainted });
    }
  }, [p.width, p.height]);

  useImperativeHandle(
    p.handle,
    () => ({
      onMask(m) {
        let l = masksByFrame.current.get(m.frame);
        if (!l) masksByFrame.current.set(m.frame, (l = []));
        l.push({ objectId: m.objectId, counts: m.counts, score: m.score });
      },
      onFrame(f) {
        const masks = masksByFrame.current.get(f.frame) ?? [];
        for (const k of masksByFrame.current.keys()) if (k <= f.frame) masksByFrame.current.delete(k);
        void createImageBitmap(new Blob([f.jpeg as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' })).then((bitmap) => {
          // Newest wins here too: a frame still waiting for its paint is replaced.
          if (pendingPaint.current) {
            pendingPaint.current.bitmap.close();
            hooks.liveClientDrops++;
          }
          pendingPaint.current = { bitmap, frame: f, masks };
          requestAnimationFrame(paintNow);
        });
      },
    }),
    [paintNow],
  );

  useEffect(() => () => pendingPaint.current?.bitmap.close(), []);

  return (
    <div className="viewer">
      <div className="stage" style={{ aspectRatio: `${p.width} / ${p.height}` }}>
        <canvas ref={canvasRef} className="live-frame" width={p.width} height={p.height} />
        <canvas
          ref={overlayRef}
          className="overlay"
          width={p.width}
          height={p.height}
          data-testid="overlay"
          onClick={(e) => {
            const r = e.currentTarget.getBoundingClientRect();
            const x = ((e.clientX - r.left) / r.width) * p.width;
            const y = ((e.clientY - r.top) / r.height) * p.height;
            p.onPrompt({ kind: 'point', frame: Math.max(0, shown.current), x, y, label: e.altKey || e.shiftKey ? 0 : 1 });
          }}
        />
      </div>
      <div className="controls live-stats" data-testid="live-stats">
        <span>live</span>
        <span>latency {stats.latency.toFixed(0)} ms (p50 {stats.p50.toFixed(0)} ms)</span>
        <span>dropped {stats.drops}</span>
        <span>painted {stats.painted}</span>
      </div>
    </div>
  );
}
