/**
 * Review facts of stored sessions: who approved one and when, and the counts a session list shows.
 *
 * Approval is a person saying "these masks are right": the session's status becomes `done` and
 * its meta gains `approvedAt` / `approvedBy`. `done` alone is not approval — `cineseg batch` also
 * marks the clips it finished `done` — so {@link isApproved} reads the meta, and approved
 * sessions are what `cineseg finetune` and the server's "Improve the model" train on by default
 * (adapt/training-data.ts). Unapproving takes both back (status `closed`: reopenable again).
 */
import { CinesegError, ErrorCode } from '../errors.js';
import type { AnnotationStore } from './annotation-store.js';
import type { SessionRecord, SessionStore } from './session-store.js';
import { SqliteStore } from './sqlite-store.js';

/** Whether a person approved the session (meta `approvedAt`). */
export function isApproved(s: SessionRecord): boolean {
  return typeof s.meta.approvedAt === 'string';
}

/**
 * Marks a session approved (status `done`) by `by`. Approving an approved session again keeps its
 * first approval. The caller makes sure no one holds it open.
 * @throws CinesegError E_SESSION_UNKNOWN
 */
export async function approveSession(store: AnnotationStore, id: string, by: string, at = new Date()): Promise<SessionRecord> {
  const s = await store.requireSession(id);
  if (isApproved(s) && s.status === 'done') return s;
  await store.transaction(async (tx) => {
    await tx.updateSessionMeta(id, { approvedAt: at.toISOString(), approvedBy: by });
    await tx.setSessionStatus(id, 'done');
  });
  return store.requireSession(id);
}

/** Takes an approval back: status `closed`, the approval kept as `unapprovedAt` only. @throws CinesegError E_SESSION_UNKNOWN, E_SESSION_BUSY (open) */
export async function unapproveSession(store: AnnotationStore, id: string, at = new Date()): Promise<SessionRecord> {
  const s = await store.requireSession(id);
  if (s.status === 'open') throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open, so it is not approved`);
  await store.transaction(async (tx) => {
    await tx.updateSessionMeta(id, { approvedAt: null, approvedBy: null, ...(isApproved(s) ? { unapprovedAt: at.toISOString() } : {}) });
    if (s.status === 'done') await tx.setSessionStatus(id, 'closed');
  });
  return store.requireSession(id);
}

/** Approved sessions, newest first. */
export async function approvedSessions(store: AnnotationStore): Promise<SessionRecord[]> {
  return (await store.listSessions({ status: 'done' })).filter(isApproved);
}

/** Per session: its live objects with their labels, current masks (of live objects) and prompts given. */
export interface SessionCounts {
  objects: { objectId: number; label: string }[];
  maskCount: number;
  promptCount: number;
}

/**
 * {@link SessionCounts} of every session. On SQLite three queries whatever the number of sessions;
 * elsewhere from the sessions' summaries and loads (the interface has no bulk count).
 */
export async function sessionCounts(store: AnnotationStore): Promise<Map<string, SessionCounts>> {
  if (store instanceof SqliteStore) return sqliteSessionCounts(store.sync);
  const out = new Map<string, SessionCounts>();
  for (const s of await store.listSessions()) {
    const objects = (await store.listObjects(s.id)).map((o) => ({ objectId: o.objectId, label: o.label }));
    out.set(s.id, { objects, maskCount: (await store.currentMasks(s.id)).length, promptCount: (await store.listPrompts(s.id)).length });
  }
  return out;
}

function sqliteSessionCounts(store: SessionStore): Map<string, SessionCounts> {
  const db = store.database;
  const out = new Map<string, SessionCounts>();
  const get = (id: string): SessionCounts => {
    let c = out.get(id);
    if (!c) out.set(id, (c = { objects: [], maskCount: 0, promptCount: 0 }));
    return c;
  };
  for (const r of db.prepare('SELECT session_id, object_id, label FROM objects WHERE removed = 0 ORDER BY session_id, object_id').all() as { session_id: string; object_id: number; label: string }[]) {
    get(r.session_id).objects.push({ objectId: r.object_id, label: r.label });
  }
  const masks = db
    .prepare(
      `SELECT m.session_id AS id, COUNT(*) AS n FROM masks m JOIN objects o ON o.session_id = m.session_id AND o.object_id = m.object_id
       WHERE m.current = 1 AND o.removed = 0 GROUP BY m.session_id`,
    )
    .all() as { id: string; n: number }[];
  for (const r of masks) get(r.id).maskCount = r.n;
  for (const r of db.prepare('SELECT session_id AS id, COUNT(*) AS n FROM prompts GROUP BY session_id').all() as { id: string; n: number }[]) get(r.id).promptCount = r.n;
  return out;
}
