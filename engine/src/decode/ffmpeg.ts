/**
 * The only module that starts ffmpeg or ffprobe. Everything else asks it for a command, so the
 * archived fluent-ffmpeg wrapper can be swapped for plain child_process (or another backend)
 * in one place.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import ffmpegFactory from 'fluent-ffmpeg';
import { CinesegError, ErrorCode } from '../errors.js';
import { stderrSummary } from './ffmpeg-errors.js';

export type FfmpegCommand = ffmpegFactory.FfmpegCommand;

let checked: { ffmpeg: string; ffprobe: string } | undefined;

/**
 * Deadlines of the `-version` check, tried in turn: on a loaded machine (a parallel test run, a
 * build) ffmpeg can take seconds just to load its libraries, and one 10 s try once reported a
 * present ffmpeg as "not found". A later try only runs when the earlier one timed out.
 */
export const VERSION_CHECK_TIMEOUTS_MS: readonly number[] = [10_000, 60_000];

/**
 * Checks that `bin -version` runs, trying each deadline in turn while it times out.
 * @throws CinesegError E_FFMPEG_MISSING whose message says what happened: not found, not
 *   runnable, exited non-zero (with its stderr), or no answer within the deadlines
 */
export function checkRunnable(bin: string, timeoutsMs: readonly number[] = VERSION_CHECK_TIMEOUTS_MS): void {
  const hint = "install Debian's ffmpeg (apt-get install ffmpeg) or set CINESEG_FFMPEG / CINESEG_FFPROBE";
  for (let i = 0; i < timeoutsMs.length; i++) {
    const r = spawnSync(bin, ['-version'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutsMs[i], killSignal: 'SIGKILL' });
    const err = r.error as NodeJS.ErrnoException | undefined;
    if (!err && r.status === 0) return;
    if (err?.code === 'ETIMEDOUT') {
      if (i + 1 < timeoutsMs.length) continue;
      const tries = timeoutsMs.map((t) => `${t / 1000} s`).join(', then ');
      throw new CinesegError(ErrorCode.E_FFMPEG_MISSING, `${bin} was found but gave no answer to -version within ${tries} (killed): the machine is overloaded or ${bin} hangs`, {
        cause: err,
        details: { reason: 'timeout', timeoutsMs: [...timeoutsMs] },
      });
    }
    if (err?.code === 'ENOENT') throw new CinesegError(ErrorCode.E_FFMPEG_MISSING, `${bin} not found; ${hint}`, { cause: err, details: { reason: 'not-found' } });
    if (err) throw new CinesegError(ErrorCode.E_FFMPEG_MISSING, `${bin} could not be run (${err.code ?? err.message}); ${hint}`, { cause: err, details: { reason: 'not-runnable' } });
    const said = stderrSummary(r.stderr?.toString('utf8') ?? '');
    const how = r.status === null ? `was killed by ${r.signal}` : `exited with ${r.status}`;
    throw new CinesegError(ErrorCode.E_FFMPEG_MISSING, `${bin} -version ${how}${said ? ` (${said})` : ''}; ${hint}`, { details: { reason: 'exit', exitCode: r.status, signal: r.signal } });
  }
}

/** Resolves the ffmpeg/ffprobe binaries once; CINESEG_FFMPEG / CINESEG_FFPROBE override PATH. */
export function ffmpegBinaries(): { ffmpeg: string; ffprobe: string } {
  if (checked) return checked;
  const ffmpeg = process.env.CINESEG_FFMPEG ?? 'ffmpeg';
  const ffprobe = process.env.CINESEG_FFPROBE ?? 'ffprobe';
  for (const bin of [ffmpeg, ffprobe]) checkRunnable(bin);
  ffmpegFactory.setFfmpegPath(ffmpeg);
  ffmpegFactory.setFfprobePath(ffprobe);
  checked = { ffmpeg, ffprobe };
  return checked;
}

/** A fluent-ffmpeg command on `input` (a path, URL, or a readable stream for `-`). */
export function ffmpegCommand(input?: string | Readable): FfmpegCommand {
  ffmpegBinaries();
  const cmd = input === undefined ? ffmpegFactory() : ffmpegFactory(input);
  return cmd;
}

/** The raw ffprobe JSON for an input (streams + format), via fluent-ffmpeg's ffprobe. */
export function ffprobeJson(input: string, extraOptions: string[] = []): Promise<ffmpegFactory.FfprobeData> {
  ffmpegBinaries();
  return new Promise((resolve, reject) => {
    ffmpegFactory.ffprobe(input, extraOptions, (err, data) => (err ? reject(err) : resolve(data)));
  });
}

export interface EncodeRgbOptions {
  width: number;
  height: number;
  fps: number;
  /** Output path; its extension picks the container (mp4, mkv, webm, avi, mov, gif). */
  output: string;
  /** libx264 CRF (mp4/mkv/mov); lower is better quality. */
  crf?: number;
  /** Extra output options, e.g. ['-g', '30']. */
  outputOptions?: string[];
}

/**
 * Encodes raw rgb24 frames (each width*height*3 bytes) into a video file. Used by the sample
 * generator; frames are written with the writable's backpressure respected.
 */
export function encodeRgbFrames(frames: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, opts: EncodeRgbOptions): Promise<void> {
  ffmpegBinaries();
  const input = new PassThrough({ highWaterMark: opts.width * opts.height * 3 * 2 });
  const ext = opts.output.split('.').pop()?.toLowerCase() ?? 'mp4';
  const codecOptions: string[] =
    ext === 'webm'
      ? ['-c:v', 'libvpx-vp9', '-b:v', '0', '-crf', String(opts.crf ?? 32), '-deadline', 'realtime', '-cpu-used', '8']
      : ext === 'gif'
        ? []
        : ext === 'avi'
          ? ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p']
          : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(opts.crf ?? 18), '-pix_fmt', 'yuv420p'];
  return new Promise<void>((resolve, reject) => {
    let stderrTail = '';
    const cmd = ffmpegCommand(input)
      .inputFormat('rawvideo')
      .inputOptions(['-pix_fmt', 'rgb24', '-s', `${opts.width}x${opts.height}`, '-framerate', String(opts.fps)])
      .outputOptions(['-y', '-an', ...codecOptions, ...(opts.outputOptions ?? [])])
      .on('stderr', (line: string) => {
        stderrTail = (stderrTail + '\n' + line).slice(-2000);
      })
      .on('error', (err: Error) => reject(new CinesegError(ErrorCode.E_ENCODE_FAILED, `ffmpeg could not encode ${opts.output}: ${err.message}`, { cause: err, details: { stderr: stderrTail } })))
      .on('end', () => resolve());
    cmd.save(opts.output);
    void (async () => {
      try {
        for await (const frame of frames as AsyncIterable<Uint8Array>) {
          if (!input.write(frame)) await new Promise((r) => input.once('drain', r));
        }
        input.end();
      } catch (err) {
        cmd.kill('SIGKILL');
        reject(err);
      }
    })();
  });
}

/** How a spawned child's stdin is wired: closed, a pipe we write to, or our own stdin. */
export type ChildStdin = 'ignore' | 'pipe' | 'inherit';

/**
 * Starts ffmpeg with exactly `args` (no shell); stdout and stderr are always pipes (non-null). The frame decoder needs
 * per-chunk control over stdout (pausing it is how backpressure reaches ffmpeg) and line access to
 * stderr (showinfo PTS), which fluent-ffmpeg does not expose cleanly, so decoding spawns directly.
 */
export function spawnFfmpeg(args: readonly string[], stdin: ChildStdin = 'ignore'): ChildProcess {
  const { ffmpeg } = ffmpegBinaries();
  return spawn(ffmpeg, args as string[], { stdio: [stdin, 'pipe', 'pipe'] });
}

/** The result of a finished ffprobe run. */
export interface FfprobeRun {
  /** Exit code; null when ffprobe was killed (then `timedOut` says whether by us, `signal` by what). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** Last few kB of stderr, for error classification. */
  stderr: string;
  /** The last attempt ran past its deadline and was killed. */
  timedOut: boolean;
  /** Deadline of each attempt in ms, in order; all but the last timed out. */
  deadlinesMs: number[];
}

/** Options of {@link runFfprobe}. */
export interface FfprobeRunOptions {
  /** Deadline of the first attempt, after which ffprobe is killed. */
  timeoutMs: number;
  stdin?: ChildStdin;
  /**
   * Attempts after a timed-out one, each with twice the previous deadline (default 0). For local
   * files: a timeout there means a loaded machine or a slow disk far more often than a broken
   * file. Not for stdin (the first attempt consumed it) nor live sources (the deadline is theirs).
   */
  retries?: number;
}

/**
 * Runs ffprobe with `args` and collects its output. ffprobe on a network input can block forever
 * (a server that accepts and never sends), so every run has a deadline after which it is killed.
 */
export async function runFfprobe(args: readonly string[], opts: FfprobeRunOptions): Promise<FfprobeRun> {
  const { ffprobe } = ffmpegBinaries();
  const retries = opts.stdin === 'inherit' ? 0 : Math.max(0, Math.floor(opts.retries ?? 0));
  const deadlinesMs: number[] = [];
  for (let attempt = 0; ; attempt++) {
    const timeoutMs = opts.timeoutMs * 2 ** attempt;
    deadlinesMs.push(timeoutMs);
    const run = await runFfprobeOnce(ffprobe, args, timeoutMs, opts.stdin);
    if (!run.timedOut || attempt >= retries) return { ...run, deadlinesMs };
  }
}

function runFfprobeOnce(ffprobe: string, args: readonly string[], timeoutMs: number, stdin: ChildStdin | undefined): Promise<Omit<FfprobeRun, 'deadlinesMs'>> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffprobe, args as string[], { stdio: [stdin ?? 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let timedOut = false;
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => {
      err = (err + b.toString('utf8')).slice(-8000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new CinesegError(ErrorCode.E_FFMPEG_MISSING, `could not start ${ffprobe}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: err, timedOut });
    });
  });
}

/**
 * Stops a child: SIGTERM first so ffmpeg can release network sessions, SIGKILL after `graceMs`
 * if it is still there. Resolves once the child has exited (Node reaps it, so no zombie remains).
 */
export function killChild(child: ChildProcess, graceMs = 300): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Options of {@link packageHls}. */
export interface PackageHlsOptions {
  /** Copy the video stream (input already H.264) instead of transcoding to H.264. */
  copy: boolean;
  /** Target segment length in seconds (default 2). */
  segmentSeconds?: number;
  /** Keyframe interval in frames when transcoding (default 30), so segments can cut on time. */
  gop?: number;
  /** Aborting kills ffmpeg; the promise rejects with E_CANCELLED. */
  signal?: AbortSignal;
  /** Arguments that open the input (a staged volume's `-f rawvideo … -i file:…`) instead of `-i <input>`. */
  inputArgs?: string[];
}

/**
 * Packages a recorded video as a VOD HLS stream: `outDir/index.m3u8` plus MPEG-TS segments
 * `seg00000.ts`, … Audio is dropped (the player shows video only). Timestamps are kept as in the
 * input, so frame PTS from the decoder and the player's media time agree.
 */
export function packageHls(input: string, outDir: string, opts: PackageHlsOptions): Promise<void> {
  const codec = opts.copy ? ['-c:v', 'copy'] : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', '-g', String(opts.gop ?? 30), '-sc_threshold', '0'];
  const args = [
    '-hide_banner',
    '-nostdin',
    '-y',
    ...(opts.inputArgs ?? ['-i', input]),
    '-map',
    '0:v:0',
    '-an',
    ...codec,
    '-f',
    'hls',
    '-hls_time',
    String(opts.segmentSeconds ?? 2),
    '-hls_playlist_type',
    'vod',
    '-hls_segment_filename',
    `${outDir}/seg%05d.ts`,
    `${outDir}/index.m3u8`,
  ];
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new CinesegError(ErrorCode.E_CANCELLED, `HLS packaging of ${input} was cancelled`));
      return;
    }
    const child = spawnFfmpeg(args);
    let tail = '';
    const onAbort = () => void killChild(child);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout!.resume();
    child.stderr!.on('data', (b: Buffer) => {
      tail = (tail + b.toString('utf8')).slice(-4000);
    });
    child.once('error', (e) => reject(new CinesegError(ErrorCode.E_FFMPEG_MISSING, `could not start ffmpeg: ${e.message}`, { cause: e })));
    child.once('close', (code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else if (opts.signal?.aborted) reject(new CinesegError(ErrorCode.E_CANCELLED, `HLS packaging of ${input} was cancelled`));
      else reject(new CinesegError(ErrorCode.E_ENCODE_FAILED, `ffmpeg could not package ${input} as HLS (exit ${code})`, { details: { stderr: tail } }));
    });
  });
}

/**
 * Starts an ffmpeg child that turns raw rgb24 frames (width x height, written to its stdin) into
 * one baseline JPEG each on stdout, in order, flushed per frame (live view frames). `quality` is
 * mjpeg's -q:v (2 best .. 31 worst).
 */
export function spawnJpegEncoder(width: number, height: number, quality = 5): ChildProcess {
  return spawnFfmpeg(
    [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${width}x${height}`,
      '-i',
      'pipe:0',
      // Slice threads only: ffmpeg's default frame threading holds each JPEG until the next frame comes in.
      '-an',
      '-c:v',
      'mjpeg',
      '-thread_type',
      'slice',
      '-pix_fmt',
      'yuvj420p',
      '-q:v',
      String(quality),
      '-flush_packets',
      '1',
      '-f',
      'image2pipe',
      'pipe:1',
    ],
    'pipe',
  );
}
