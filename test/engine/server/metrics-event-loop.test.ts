/**
 * Event-loop delay in GET /metrics (metrics.ts EventLoopDelay over perf_hooks): a real server,
 * whose event loop is stalled on purpose, reports the stall in `cineseg_event_loop_delay_seconds`
 * (p50, p99, max), and the sampler itself sees a stall and restarts per window.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { EventLoopDelay } from '../../../engine/src/server/metrics.js';
import { rawGet } from './http-client.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-eld-'));
mkdirSync(join(tmp, 'media'));
const servers: CinesegServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: nothing else may run on this thread meanwhile
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event-loop delay', () => {
  it('sees a stall of the loop, and forgets it two windows later', async () => {
    const d = new EventLoopDelay(0.3, 5);
    try {
      await sleep(50);
      stall(120);
      await sleep(30);
      const s = d.snapshot();
      expect(s.samples).toBeGreaterThan(0);
      expect(s.maxMs).toBeGreaterThan(90);
      expect(s.maxMs).toBeLessThan(1000);
      expect(s.p50Ms).toBeLessThanOrEqual(s.p99Ms);
      expect(s.p99Ms).toBeLessThanOrEqual(s.maxMs);
      // Two windows on (0.3 s each) with no stall, the 120 ms one has left both windows.
      await sleep(800);
      expect(d.snapshot().maxMs).toBeLessThan(90);
    } finally {
      d.destroy();
    }
  });

  it('is exported in /metrics as a gauge by stat, in seconds, and moves with a stall', async () => {
    // No `sessions`: the server makes its own, in a worker thread (serve's default).
    const s = await startServer({ port: 0, sink: new MemorySink(), media: [join(tmp, 'media')], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'no-player') });
    servers.push(s);
    const read = async () => {
      const r = await rawGet(s.host, s.port, '/metrics');
      expect(r.status).toBe(200);
      const lines = r.body.split('\n');
      expect(lines).toContain('# TYPE cineseg_event_loop_delay_seconds gauge');
      expect(lines.some((l) => l.startsWith('# HELP cineseg_event_loop_delay_seconds '))).toBe(true);
      const v: Record<string, number> = {};
      for (const l of lines) {
        const m = /^cineseg_event_loop_delay_seconds\{stat="(p50|p99|max)"\} (\S+)$/.exec(l);
        if (m) v[m[1]!] = Number(m[2]);
      }
      expect(Object.keys(v).sort()).toEqual(['max', 'p50', 'p99']);
      return v as { p50: number; p99: number; max: number };
    };
    await sleep(100);
    const before = await read();
    expect(before.max).toBeLessThan(0.25);
    stall(300);
    await sleep(30);
    const after = await read();
    expect(after.max).toBeGreaterThan(0.25);
    expect(after.max).toBeLessThan(5);
    expect(after.p99).toBeLessThanOrEqual(after.max);
    expect(s.metrics.eventLoop.snapshot().maxMs).toBeGreaterThan(250);
  });
});
