/**
 * LiveSource over a real network stream: a TCP server on 127.0.0.1 sends an MPEG-TS clip to each
 * connection (ffmpeg reads it at its own rate, `-re`). Killing the decoding ffmpeg with SIGKILL
 * makes the source reconnect after its backoff, with indices and PTS that keep increasing; once
 * the server is gone, the attempts fail with growing waits and the source reports
 * E_LIVE_SOURCE_LOST instead of hanging. No ffmpeg is left behind.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childProcesses, isOwnFfmpeg } from '../../../engine/src/bench/process-stats.js';
import type { Frame } from '../../../engine/src/decode/frame-decoder.js';
import { isCinesegError } from '../../../engine/src/errors.js';
import { LiveSource, redactInput } from '../../../engine/src/decode/live-source.js';
import { REPO_ROOT } from '../model/test-bundle.js';

let tmp: string;
let ts: Buffer;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-livesrc-'));
  const out = join(tmp, 'clip.ts');
  execFileSync('ffmpeg', ['-v', 'error', '-i', join(REPO_ROOT, 'samples/generated/ultrasound-1/clip.mp4'), '-c', 'copy', '-f', 'mpegts', out]);
  ts = readFileSync(out);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A TCP server that sends the clip to every connection, then closes it. */
async function serveClip(): Promise<{ server: Server; url: string; connections: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server = createServer((sock) => {
    state.connections++;
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
    sock.end(ts);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    url: `tcp://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('LiveSource', () => {
  it('reconnects after its ffmpeg is killed, keeps frame numbering going, and reports a lost source with a code', async () => {
    const srv = await serveClip();
    const log: string[] = [];
    const src = await LiveSource.open(srv.url, {
      inputOptions: ['-re'],
      reconnect: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 250 },
      log: (l) => log.push(`${Date.now()} ${l}`),
    });
    try {
      const frames: Frame[] = [];
      while (frames.length < 8) frames.push((await src.next())!);
      const pid = src.pid!;
      expect(pid).toBeGreaterThan(0);
      expect(isOwnFfmpeg(pid)).toBe(true);
      process.kill(pid, 'SIGKILL');

      const before = frames.length;
      while (frames.length < before + 8) frames.push((await src.next())!);
      expect(src.pid).not.toBe(pid);
      expect(srv.connections).toBe(2);
      const s = src.stats;
      expect(s).toMatchObject({ connections: 2, reconnects: 1, attempts: 1, failedInARow: 0, lastBackoffMs: 100 });
      expect(log.some((l) => /reconnect attempt 1\/3 in 100 ms/.test(l))).toBe(true);
      expect(log.some((l) => /frames again after 1 attempt/.test(l))).toBe(true);
      // One clock across connections: indices and PTS only go up (gaps are drops).
      for (let i = 1; i < frames.length; i++) {
        expect(frames[i]!.index).toBeGreaterThan(frames[i - 1]!.index);
        expect(frames[i]!.ptsUs).toBeGreaterThan(frames[i - 1]!.ptsUs);
      }
      expect(frames.every((f) => f.width === 480 && f.height === 360)).toBe(true);

      // The server goes away for good: every attempt is refused, waits grow 100, 200, 250 (cap).
      await srv.close();
      const t0 = Date.now();
      process.kill(src.pid!, 'SIGKILL');
      let err: unknown;
      try {
        for (;;) if (!(await src.next())) break;
      } catch (e) {
        err = e;
      }
      const waited = Date.now() - t0;
      expect(isCinesegError(err, 'E_LIVE_SOURCE_LOST')).toBe(true);
      expect((err as Error).message).toMatch(/3 reconnect attempt\(s\) failed; last: E_LIVE_CONNECT_FAILED/);
      const attempts = log.filter((l) => /reconnect attempt \d\/3/.test(l)).slice(1);
      expect(attempts.map((l) => /in (\d+) ms/.exec(l)![1])).toEqual(['100', '200', '250']);
      expect(waited).toBeGreaterThanOrEqual(100 + 200 + 250);
      expect(src.stats).toMatchObject({ connections: 5, attempts: 4, reconnects: 1, failedInARow: 3 });
      expect(src.pid).toBeNull();
    } finally {
      await src.destroy();
      await srv.close().catch(() => undefined);
    }
    expect(childProcesses('ffmpeg')).toEqual([]);
  });

  it('does not retry a first connection that fails, and hides credentials in what it reports', async () => {
    const srv = await serveClip();
    const url = srv.url;
    await srv.close();
    const log: string[] = [];
    const src = await LiveSource.open(url.replace('tcp://', 'tcp://user:secret@'), { reconnect: { maxAttempts: 3, initialDelayMs: 10 }, log: (l) => log.push(l) });
    const err = await src.next().catch((e: unknown) => e);
    expect(isCinesegError(err, 'E_LIVE_CONNECT_FAILED')).toBe(true);
    expect(src.stats).toMatchObject({ connections: 1, attempts: 0 });
    expect(log).toEqual([]);
    await src.destroy();
    expect(redactInput('rtsp://admin:pw@10.0.0.5:554/stream')).toBe('rtsp://***@10.0.0.5:554/stream');
    expect(redactInput('loop:/a/b@c.mp4')).toBe('loop:/a/b@c.mp4');
    expect(childProcesses('ffmpeg')).toEqual([]);
  });

  it('plays loop:<file> without end and stops its ffmpeg on destroy', async () => {
    const src = await LiveSource.open(`loop:${join(REPO_ROOT, 'samples/generated/ultrasound-1/clip.mp4')}`);
    const f = (await src.next())!;
    expect(f).toMatchObject({ width: 480, height: 360 });
    expect(src.info?.frameCount).toBe(90);
    const pid = src.pid!;
    expect(isOwnFfmpeg(pid)).toBe(true);
    await src.destroy();
    expect(await src.next()).toBeNull();
    expect(childProcesses('ffmpeg')).toEqual([]);
  });
});
