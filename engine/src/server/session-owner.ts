/**
 * Which server holds an open session, so that servers sharing one store (several `cineseg serve`
 * on one PostgreSQL) never take each other's sessions. A server's StoreSink writes meta `server`
 * ({host, pid, instance, heartbeat, heartbeatAt}) when it opens a session; on a PostgreSQL store,
 * which servers on other machines share, it refreshes `heartbeatAt` every {@link HEARTBEAT_MS}
 * (`heartbeat: true`). A SQLite file is one machine's: there the process is the whole answer, and
 * no heartbeat rewrites the session's row every few seconds. A session is held while its owner is
 * alive:
 * - on this host: its process exists, and it is not a server of this process that was destroyed
 *   (tests run several servers in one process), and its heartbeat (if it has one) is fresh — so a
 *   server restarted after kill -9 takes its sessions back at once, without waiting for the
 *   heartbeat to age;
 * - on another host: its heartbeat is younger than {@link OWNER_STALE_MS} (an owner without
 *   heartbeats there cannot be judged, and is taken as alive: nothing is taken from a live server).
 * A session with no owner (stored before owners were written, or by a crashed start) is not held.
 * At start a server closes the open sessions nobody holds (session-restore.ts closeOrphans), and a
 * session whose owner died can be reopened at once on any server.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

export const HEARTBEAT_MS = 15_000;
/** Four heartbeats missed: the owner is gone (a paused VM or a long GC pause stays well under it). */
export const OWNER_STALE_MS = 60_000;

export interface SessionOwner {
  host: string;
  pid: number;
  /** One per StoreSink: several servers in one process are told apart. */
  instance: string;
  /** Whether `heartbeatAt` is refreshed (PostgreSQL stores). */
  heartbeat: boolean;
  heartbeatAt: string;
}

/** StoreSink instances alive in this process (an owner of this pid not in it was destroyed). */
const liveInstances = new Set<string>();

/** A new owner identity for a StoreSink; {@link releaseOwner} when it is destroyed. */
export function newOwner(heartbeat: boolean): Omit<SessionOwner, 'heartbeatAt'> {
  const o = { host: hostname(), pid: process.pid, instance: randomUUID(), heartbeat };
  liveInstances.add(o.instance);
  return o;
}

export function releaseOwner(instance: string): void {
  liveInstances.delete(instance);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the server named in a session's meta still holds it (see the module comment). */
export function ownerAlive(meta: Readonly<Record<string, unknown>>, now = Date.now()): boolean {
  const o = meta.server as Partial<SessionOwner> | undefined;
  if (!o || typeof o.host !== 'string' || typeof o.pid !== 'number' || typeof o.heartbeatAt !== 'string') return false;
  const fresh = o.heartbeat === false || now - Date.parse(o.heartbeatAt) < OWNER_STALE_MS;
  if (o.host !== hostname()) return fresh;
  if (o.pid === process.pid) return fresh && typeof o.instance === 'string' && liveInstances.has(o.instance);
  return fresh && pidAlive(o.pid);
}
