/**
 * One bar per frame: a tick where a prompt was given, a coloured strip where masks exist, and the
 * current frame's cursor. Clicking seeks.
 */
import { useEffect, useRef } from 'react';

export interface TimelineProps {
  numFrames: number;
  current: number;
  promptedFrames: ReadonlySet<number>;
  maskFrames: ReadonlySet<number>;
  onSeek(frame: number): void;
}

export function Timeline({ numFrames, current, promptedFrames, maskFrames, onSeek }: TimelineProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    const w = (c.width = c.clientWidth || 600);
    const h = (c.height = 36);
    const ctx = c.getContext('2d')!;
    ctx.fillStyle = '#20242c';
    ctx.fillRect(0, 0, w, h);
    const fw = w / Math.max(1, numFrames);
    ctx.fillStyle = '#3fa7d6';
    for (const f of maskFrames) ctx.fillRect(f * fw, 20, Math.max(1, fw), 10);
    ctx.fillStyle = '#ffd166';
    for (const f of promptedFrames) ctx.fillRect(f * fw, 2, Math.max(2, fw), 16);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(current * fw, 0, Math.max(2, fw), h);
  }, [numFrames, current, promptedFrames, maskFrames]);
  return (
    <canvas
      ref={ref}
      className="timeline"
      title="timeline: yellow = prompted frames, blue = frames with masks"
      onClick={(e) => {
        const r = e.currentTarget.getBoundingClientRect();
        onSeek(Math.min(numFrames - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * numFrames))));
      }}
    />
  );
}
