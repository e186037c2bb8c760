/**
 * A probe on a loaded machine: ffprobe (and `ffmpeg -version`) that answer late are waited for
 * again rather than reported as broken files or a missing ffmpeg, and when they really fail the
 * message says what happened (timed out after how long, killed by what, or ffprobe's own words).
 *
 * The slow ffprobe is a real process: a stand-in script (CINESEG_FFPROBE) that, as its mode file
 * says, stalls (a process that never answers) or kills itself, and otherwise runs the real ffprobe.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CinesegError, probe } from 'cineseg';
import { checkRunnable } from '../../../engine/src/decode/ffmpeg.js';
import { makeTmp, testClip } from './media-fixtures.js';

const tmp = makeTmp('cineseg-probe-timeout-');
const T = (name: string): string => join(tmp.dir, name);
const realFfprobe = execFileSync('sh', ['-c', 'command -v ffprobe'], { encoding: 'utf8' }).trim();

// Read once, on the first ffmpeg use in this file (ffmpegBinaries caches it): set before any probe.
process.env.CINESEG_FFPROBE = T('ffprobe-standin');
writeFileSync(
  T('ffprobe-standin'),
  `#!/bin/sh
dir='${tmp.dir}'
case "$1" in -version) exec '${realFfprobe}' "$@";; esac
echo x >> "$dir/calls"
case "$(cat "$dir/mode")" in
  stall-once) if [ ! -e "$dir/stalled" ]; then : > "$dir/stalled"; echo "[file @ 0x55d0] reading from a slow disk" >&2; exec sleep 60; fi ;;
  stall) echo "[file @ 0x55d0] still reading" >&2; exec sleep 60 ;;
  self-kill) echo "[mov @ 0x55d0] out of memory" >&2; kill -9 $$ ;;
esac
exec '${realFfprobe}' "$@"
`,
);
chmodSync(T('ffprobe-standin'), 0o755);

const setMode = (mode: string): void => {
  writeFileSync(T('mode'), mode);
  rmSync(T('stalled'), { force: true });
  rmSync(T('calls'), { force: true });
};
const calls = (): number => readFileSync(T('calls'), 'utf8').split('\n').filter(Boolean).length;

async function errorOf(p: Promise<unknown>): Promise<CinesegError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CinesegError);
    expect((e as CinesegError).message).not.toContain('\n');
    return e as CinesegError;
  }
  throw new Error('expected the probe to fail');
}

beforeAll(() => {
  testClip(T('clip.mp4'), { w: 64, h: 48, fps: 25, frames: 20 });
});
beforeEach(() => setMode('off'));
afterAll(() => tmp.cleanup());

describe('probe timeout', () => {
  it('an ffprobe that stalls once is killed and asked again with twice the deadline: the probe succeeds', async () => {
    setMode('stall-once');
    const t0 = Date.now();
    const info = await probe(T('clip.mp4'), { timeoutMs: 1000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // the first attempt was waited for, then killed
    expect(info).toMatchObject({ width: 64, height: 48, frameCount: 20, codec: 'h264' });
    expect(calls()).toBe(2);
  });

  it('an ffprobe that never answers: E_DECODE_PROBE_FAILED saying it timed out, after how long, and what ffprobe had said', async () => {
    setMode('stall');
    const e = await errorOf(probe(T('clip.mp4'), { timeoutMs: 300 }));
    expect(e.code).toBe('E_DECODE_PROBE_FAILED');
    expect(e.message).toContain('ffprobe timed out (2 attempts, killed after 0.3 s, then 0.6 s) without an answer (ffprobe: still reading)');
    expect(e.details).toMatchObject({ timedOut: true, timeoutMs: 600, deadlinesMs: [300, 600] });
    expect(calls()).toBe(2);
    const once = await errorOf(probe(T('clip.mp4'), { timeoutMs: 200, retries: 0 }));
    expect(once.message).toContain('ffprobe timed out (killed after 0.2 s)');
  });

  it('an ffprobe killed by someone else is reported as killed, not as a timeout nor as a broken file', async () => {
    setMode('self-kill');
    const e = await errorOf(probe(T('clip.mp4'), { timeoutMs: 5000 }));
    expect(e.code).toBe('E_DECODE_PROBE_FAILED');
    expect(e.message).toBe(`${T('clip.mp4')}: ffprobe was killed by SIGKILL (ffprobe: out of memory)`);
    expect(calls()).toBe(1); // not retried: it did not time out
  });

  it("a failing ffprobe's own error is kept (no timeout wording, no retry)", async () => {
    writeFileSync(T('text.mp4'), 'not a video at all\n'.repeat(40));
    const e = await errorOf(probe(T('text.mp4'), { timeoutMs: 5000 }));
    expect(e.code).toBe('E_DECODE_CORRUPT');
    expect(e.message).not.toMatch(/timed out|killed/);
    expect(calls()).toBe(1);
  });
});

describe('ffmpeg -version check', () => {
  const script = (name: string, body: string): string => {
    writeFileSync(T(name), `#!/bin/sh\n${body}\n`);
    chmodSync(T(name), 0o755);
    return T(name);
  };

  it('a binary that answers late passes on the longer second deadline', () => {
    // The sleep's stdio goes nowhere, so a killed shell leaves no process holding our pipe.
    const slow = script('slow-version', 'sleep 1 </dev/null >/dev/null 2>&1; echo "ffmpeg version 6"; exit 0');
    const t0 = Date.now();
    expect(() => checkRunnable(slow, [200, 10_000])).not.toThrow();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  it('says which: no answer in time, not found, or exited with its stderr', () => {
    const slow = script('slower-version', 'sleep 2 </dev/null >/dev/null 2>&1; exit 0');
    const fail = (fn: () => void): CinesegError => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(CinesegError);
        return e as CinesegError;
      }
      throw new Error('expected the check to fail');
    };
    const late = fail(() => checkRunnable(slow, [100, 300]));
    expect(late.code).toBe('E_FFMPEG_MISSING');
    expect(late.message).toBe(`${slow} was found but gave no answer to -version within 0.1 s, then 0.3 s (killed): the machine is overloaded or ${slow} hangs`);
    expect(late.details).toMatchObject({ reason: 'timeout' });
    const missing = fail(() => checkRunnable(T('no-such-ffmpeg')));
    expect(missing.message).toMatch(/no-such-ffmpeg not found; install/);
    expect(missing.details).toMatchObject({ reason: 'not-found' });
    const broken = script('broken-version', 'echo "error while loading shared libraries: libavdevice.so.60" >&2; exit 127');
    const exited = fail(() => checkRunnable(broken));
    expect(exited.message).toMatch(/broken-version -version exited with 127 \(error while loading shared libraries: libavdevice.so.60\)/);
  });
});
