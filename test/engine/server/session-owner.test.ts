/**
 * Who holds an open session when servers share a store (server/session-owner.ts): a real child
 * process stands for a server on this host, alive and then killed.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { newOwner, ownerAlive, OWNER_STALE_MS, releaseOwner } from '../../../engine/src/server/session-owner.js';

const now = Date.now();
const at = (ms: number) => new Date(now - ms).toISOString();

describe('ownerAlive', () => {
  it('holds a session for a live process on this host, and lets it go the moment that process dies', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const meta = { server: { host: hostname(), pid: child.pid!, instance: 'x', heartbeat: true, heartbeatAt: at(1000) } };
    expect(ownerAlive(meta, now)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Heartbeat still fresh, process gone: a restarted server takes its sessions back at once.
    expect(ownerAlive(meta, now)).toBe(false);
  });

  it('on another host, goes by the heartbeat alone', () => {
    const other = (ms: number) => ({ server: { host: `not-${hostname()}`, pid: 1, instance: 'y', heartbeat: true, heartbeatAt: at(ms) } });
    expect(ownerAlive(other(5_000), now)).toBe(true);
    expect(ownerAlive(other(OWNER_STALE_MS + 1), now)).toBe(false);
    // A SQLite owner (no heartbeats): its process decides, however old its heartbeatAt.
    expect(ownerAlive({ server: { host: hostname(), pid: process.pid === 1 ? 2 : 1, instance: 'z', heartbeat: false, heartbeatAt: at(10 * OWNER_STALE_MS) } }, now)).toBe(true);
  });

  it('in this process, a destroyed server no longer holds anything; a session without an owner is held by nobody', () => {
    const o = newOwner(false);
    const meta = { server: { ...o, heartbeatAt: at(0) } };
    expect(ownerAlive(meta, now)).toBe(true);
    releaseOwner(o.instance);
    expect(ownerAlive(meta, now)).toBe(false);
    expect(ownerAlive({}, now)).toBe(false);
    expect(ownerAlive({ server: { host: hostname() } }, now)).toBe(false);
  });
});
