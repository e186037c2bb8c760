/**
 * The live view: the server sends each frame's picture (JPEG) as soon as it is encoded, then the
 * frame's masks once tracked, then the frame message that completes it. The picture is decoded
 * while the server tracks and the overlay is rasterized when the frame completes, so the next
 * animation frame only draws both. The time from the frame leaving the server's decoder to that
 * paint is the glass-to-glass latency shown (both clocks are the machine's wall clock, so this is
 * exact on one machine).
 */
import { useCallback, useEffect, useImperativeHandle, useRef, useState, type Ref } from 'react';
import { createWallClock, type LiveFrame, type LivePicture, type MaskFrame } from '../../../engine/src/protocol.js';
import { rasterizeMasks, type ObjectMask } from '../overlay/paint.js';
import { hooks, recordLivePaint } from '../test-hooks.js';
import type { Prompt } from './RecordedView.js';

export interface LiveViewHandle {
  onPicture(p: LivePicture): void;
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

function decodeJpeg(jpeg: Uint8Array): Promise<ImageBitmap | null> {
  return createImageBitmap(new Blob([jpeg as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' })).catch(() => null);
}

function closeLater(p: Promise<ImageBitmap | null>): void {
  void p.then((b) => b?.close());
}

export function LiveView(p: LiveViewProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<HTMLCanvasElement>(null);
  const masksByFrame = useRef(new Map<number, ObjectMask[]>());
  const pictures = useRef(new Map<number, Promise<ImageBitmap | null>>());
  const pendingPaint = useRef<{ bitmap: ImageBitmap; frame: LiveFrame; overlay: ImageData; arrivedMs: number } | null>(null);
  const shown = useRef(-1);
  /** Overlay images already put on the canvas, for the next frames to reuse. */
  const spareOverlays = useRef<ImageData[]>([]);
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
    octx.putImageData(job.overlay, 0, 0);
    spareOverlays.current.push(job.overlay);
    shown.current = job.frame.frame;
    const paintMs = wallMs();
    const latency = paintMs - job.frame.sourceMs;
    recordLivePaint({ frame: job.frame.frame, paintMs, arrivedMs: job.arrivedMs, latencyMs: latency, serverMs: (job.frame.serverUs ?? 0) / 1000 });
    hooks.liveDrops = job.frame.drops;
    if (hooks.livePainted % 10 === 1) {
      const recent = hooks.liveLatenciesMs.slice(-100).sort((a, b) => a - b);
      setStats({ latency, p50: recent[Math.floor(recent.length / 2)] ?? 0, drops: job.frame.drops, painted: hooks.livePainted });
    }
  }, []);

  useImperativeHandle(
    p.handle,
    () => ({
      onMask(m) {
        let l = masksByFrame.current.get(m.frame);
        if (!l) masksByFrame.current.set(m.frame, (l = []));
        l.push({ objectId: m.objectId, counts: m.counts, score: m.score });
      },
      onPicture(pic) {
        pictures.current.set(pic.frame, decodeJpeg(pic.jpeg));
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
        if (f.jpeg.length > 0) {
          if (picture) closeLater(picture);
          picture = decodeJpeg(f.jpeg);
        }
        if (!picture) {
          hooks.liveClientDrops++;
          return;
        }
        const overlay = rasterizeMasks(p.width, p.height, masks, hidden.current, spareOverlays.current.pop());
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
          pendingPaint.current = { bitmap, frame: f, overlay, arrivedMs };
          requestAnimationFrame(paintNow);
        });
      },
    }),
    [paintNow, p.width, p.height],
  );

  useEffect(
    () => () => {
      pendingPaint.current?.bitmap.close();
      for (const pic of pictures.current.values()) closeLater(pic);
      pictures.current.clear();
    },
    [],
  );

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
