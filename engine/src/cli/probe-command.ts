/**
 * `cineseg probe <input> [--json]`: prints what cineseg sees in a video (size after rotation, rate,
 * frame count, codec) — the first thing to run on a clip that misbehaves.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { probe, type VideoInfo } from '../decode/probe.js';

/** Where command output goes; tests pass their own. */
export type Write = (text: string) => void;

/** Parses a positive number option (commander calls it with the raw string). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

/** Human-readable VideoInfo, one `key: value` per line. */
export function formatVideoInfo(info: VideoInfo): string {
  const us = (v: number | null): string => (v === null ? 'unknown' : `${(v / 1e6).toFixed(6)} s`);
  const rows: Array<[string, string]> = [
    ['input', info.input],
    ['format', info.format],
    ['codec', `${info.codec} (${info.pixFmt})`],
    ['size', `${info.width}x${info.height}${info.rotation ? ` (stored ${info.codedWidth}x${info.codedHeight}, rotated ${info.rotation} deg clockwise)` : ''}`],
    ['fps', `${Number(info.fps.toFixed(3))}${info.variableFrameRate ? ' (variable frame rate)' : ''}`],
    ['frames', info.frameCount === null ? 'unknown' : String(info.frameCount)],
    ['duration', us(info.durationUs)],
    ['start', us(info.startTimeUs)],
    ['live', info.isLive ? 'yes' : 'no'],
  ];
  return rows.map(([k, v]) => `${k.padEnd(9)}${v}`).join('\n') + '\n';
}

/** Registers `probe` on the cineseg program. */
export function registerProbe(program: Command, write: Write = (t) => process.stdout.write(t)): void {
  program
    .command('probe')
    .description('show size, rotation, frame rate, frame count and codec of a video, image folder, live URL or - (stdin)')
    .argument('<input>', 'file, folder of png/jpg frames, rtsp/srt/udp/tcp/http(s) URL, or - for stdin')
    .option('--json', 'print the VideoInfo as JSON')
    .option('--fps <n>', 'frame rate of an image folder (default 30)', positiveNumber)
    .option('--timeout <ms>', 'how long a live input may take to answer (default 10000)', positiveNumber)
    .action(async (input: string, opts: { json?: boolean; fps?: number; timeout?: number }) => {
      const info = await probe(input, {
        ...(opts.fps !== undefined ? { imageFps: opts.fps } : {}),
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
      });
      write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : formatVideoInfo(info));
    });
}
