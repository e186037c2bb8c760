/**
 * `cineseg decode <input>`: decodes frames the way tracking will (same sizes, seeks, live rules) and
 * prints one line per frame with its index and PTS, then a summary. For checking a clip's timing
 * against ffprobe and for measuring decode speed on a machine.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';
import { FrameSource } from '../decode/frame-source.js';
import { positiveNumber, type Write } from './probe-command.js';

function size(value: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected WIDTHxHEIGHT, e.g. 256x256');
  return { width: Number(m[1]), height: Number(m[2]) };
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be an integer >= 0');
  return n;
}

interface DecodeCliOptions {
  size?: { width: number; height: number };
  startFrame?: number;
  startTime?: number;
  maxFrames?: number;
  fps?: number;
  live?: boolean;
  connectTimeout?: number;
  stallTimeout?: number;
  json?: boolean;
  quiet?: boolean;
}

/** Registers `decode` on the cineseg program. */
export function registerDecode(program: Command, write: Write = (t) => process.stdout.write(t)): void {
  program
    .command('decode')
    .description('decode frames (scaled, seeked) and print index and PTS of each, then a summary')
    .argument('<input>', 'file, folder of png/jpg frames, live URL, or - for stdin')
    .option('--size <WxH>', 'scale frames to exactly WxH (default: source size)', size)
    .option('--start-frame <n>', 'first frame index to deliver', count)
    .option('--start-time <seconds>', 'deliver from the first frame at or after this PTS', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
      return n;
    })
    .option('--max-frames <n>', 'stop after n frames', count)
    .option('--fps <n>', 'frame rate of an image folder (default 30)', positiveNumber)
    .option('--live', 'latest-frame-wins delivery (default for network URLs)')
    .option('--connect-timeout <ms>', 'live: time allowed until the first frame (default 10000)', positiveNumber)
    .option('--stall-timeout <ms>', 'live: longest gap between frames (default 5000)', positiveNumber)
    .option('--json', 'print frames and summary as JSON lines')
    .option('--quiet', 'print only the summary')
    .action(async (input: string, opts: DecodeCliOptions) => {
      const src = await FrameSource.open(input, {
        ...(opts.size ?? {}),
        ...(opts.startFrame !== undefined ? { startFrame: opts.startFrame } : {}),
        ...(opts.startTime !== undefined ? { startTimeUs: Math.round(opts.startTime * 1e6) } : {}),
        ...(opts.maxFrames !== undefined ? { maxFrames: opts.maxFrames } : {}),
        ...(opts.fps !== undefined ? { imageFps: opts.fps } : {}),
        ...(opts.live ? { mode: 'latest' as const } : {}),
        ...(opts.connectTimeout !== undefined ? { connectTimeoutMs: opts.connectTimeout } : {}),
        ...(opts.stallTimeout !== undefined ? { stallTimeoutMs: opts.stallTimeout } : {}),
      });
      if (opts.startFrame !== undefined || opts.startTime !== undefined) await src.prepareSeek();
      const started = process.hrtime.bigint();
      const dec = src.decoder();
      let frames = 0;
      try {
        for (;;) {
          const f = await dec.next();
          if (!f) break;
          frames++;
          if (opts.quiet) continue;
          write(opts.json ? `${JSON.stringify({ index: f.index, ptsUs: f.ptsUs, width: f.width, height: f.height })}\n` : `${f.index}\t${(f.ptsUs / 1e6).toFixed(6)}\t${f.width}x${f.height}\n`);
        }
      } finally {
        await dec.destroy();
        await src.destroy();
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const s = dec.stats;
      const summary = { frames, seconds: Number(seconds.toFixed(3)), fps: Number((frames / seconds).toFixed(1)), dropped: s.framesDropped, decodeErrors: s.decodeErrors, warnings: s.warnings };
      write(opts.json ? `${JSON.stringify({ summary })}\n` : `# ${frames} frames in ${summary.seconds} s (${summary.fps} fps), dropped ${s.framesDropped}, decode errors ${s.decodeErrors}\n`);
      if (frames === 0) throw new CinesegError(ErrorCode.E_DECODE_FAILED, `${input}: no frames decoded`);
    });
}
