/**
 * The HTTP routes of stored sessions, behind the same access check as every request
 * (http-server.ts runs it first):
 * - `GET /api/sessions`: the stored sessions, newest first (session-restore.ts StoredSessionInfo)
 *   with review facts: `objects` as `[{objectId, label}]`, `objectCount`, `maskCount`,
 *   `promptCount`, `model` (the model id a session ran on), `createdBy`, and `approvedAt` /
 *   `approvedBy` once approved (store/session-review.ts).
 * - `POST /api/sessions/:id/close`: closes it, also when another connection holds it (its
 *   propagation stops after the frame in flight); 204. Closing a closed one is no error.
 * - `POST /api/sessions/:id/approve`: marks it done (status `done`, approvedAt/By); a session this
 *   server holds is closed first, one open in another process is 409 E_SESSION_BUSY. Answers the
 *   session's row. `POST /api/sessions/:id/unapprove` takes it back (status `closed`).
 * - `GET /api/sessions/:id/export?format=…&objects=…&frames=…`: a download (export-routes.ts).
 * - `DELETE /api/sessions/:id`: deletes it with all its prompts and masks; 204, or 409
 *   E_SESSION_BUSY while it is open (close it first) or another session takes support from it,
 *   404 E_SESSION_UNKNOWN.
 * A server without a store lists nothing and knows no session.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CinesegError, ErrorCode } from '../errors.js';
import { approveSession, isApproved, sessionCounts, unapproveSession } from '../store/session-review.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import type { AnnotationSink } from './annotation-sink.js';
import type { ClipCatalog } from './clip-catalog.js';
import { exportDownload, sendDownload } from './export-routes.js';
import type { SessionManager } from './session-manager.js';
import { listStoredSessions, type StoredSessionInfo } from './session-restore.js';
import { StoreSink } from './store-sink.js';

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** One row of GET /api/sessions. */
export interface SessionRow extends Omit<StoredSessionInfo, 'objects'> {
  objects: { objectId: number; label: string }[];
  /** Live objects (what `objects` was before it listed them). */
  objectCount: number;
  maskCount: number;
  promptCount: number;
  /** The model id (GET /api/models) the session ran on; absent: the server's default. */
  model?: string;
  createdBy: string;
  approvedAt?: string;
  approvedBy?: string;
}

export interface SessionRoutes {
  /** Answers a request whose path is /api/sessions or under it. Throws coded errors (http-server.ts maps them). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

/** The rows of GET /api/sessions. */
export async function sessionRows(store: AnnotationStore, catalog: ClipCatalog, fallbackUser: string): Promise<SessionRow[]> {
  const list = await listStoredSessions(store, catalog);
  const counts = await sessionCounts(store);
  const meta = new Map((await store.listSessions()).map((s) => [s.id, s]));
  return list.map((row) => {
    const c = counts.get(row.id) ?? { objects: [], maskCount: 0, promptCount: 0 };
    const s = meta.get(row.id);
    const m = s?.meta ?? {};
    return {
      ...row,
      objects: c.objects,
      objectCount: row.objects,
      maskCount: c.maskCount,
      promptCount: c.promptCount,
      ...(typeof m.model === 'string' ? { model: m.model } : {}),
      createdBy: typeof m.createdBy === 'string' ? m.createdBy : fallbackUser,
      ...(s && isApproved(s) ? { approvedAt: m.approvedAt as string, ...(typeof m.approvedBy === 'string' ? { approvedBy: m.approvedBy } : {}) } : {}),
    };
  });
}

export function sessionRoutes(deps: { sink: AnnotationSink; catalog: ClipCatalog; manager: SessionManager; log: (line: string) => void; user?: string }): SessionRoutes {
  const store = deps.sink instanceof StoreSink ? deps.sink.store : null;
  const user = deps.user ?? 'local';
  const unknown = (id: string) => new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no stored session "${id}"`, { details: { sessionId: id } });
  const json = (res: ServerResponse, body: unknown, head = false) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    res.end(head ? undefined : JSON.stringify(body));
  };
  const row = async (id: string) => (await sessionRows(store!, deps.catalog, user)).find((r) => r.id === id);
  return {
    async handle(req, res, path) {
      const method = req.method ?? 'GET';
      if (path === '/api/sessions') {
        if (method !== 'GET' && method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
        json(res, store ? await sessionRows(store, deps.catalog, user) : [], method === 'HEAD');
        return;
      }
      const m = /^\/api\/sessions\/([^/]+)(\/close|\/approve|\/unapprove|\/export)?$/.exec(path);
      // The id is client input echoed in replies and logs: only plain ids get that far.
      if (!m || !ID_RE.test(m[1]!))
        throw new CinesegError(
          ErrorCode.E_INPUT_NOT_FOUND,
          'no such route (GET /api/sessions, POST /api/sessions/<id>/close|approve|unapprove, GET /api/sessions/<id>/export, DELETE /api/sessions/<id>)',
        );
      const id = m[1]!;
      const action = m[2];
      if (action === '/export') {
        if (method !== 'GET' && method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
        if (!store || !(await store.getSession(id))) throw unknown(id);
        const query = new URLSearchParams((req.url ?? '').split('?')[1]?.split('#')[0] ?? '');
        sendDownload(res, await exportDownload(store, id, query), method === 'HEAD');
        return;
      }
      if (action === '/approve' || action === '/unapprove') {
        if (method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
        if (!store || !(await store.getSession(id))) throw unknown(id);
        if (action === '/approve') {
          // Approved means finished: a session held here is closed first (its propagation stops after the frame in flight).
          if (deps.manager.holds(id)) await deps.manager.closeById(id);
          if ((await store.requireSession(id)).status === 'open') throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open in another process; close it there first`);
          await approveSession(store, id, user);
          deps.log(`session ${id} approved over HTTP`);
        } else {
          await unapproveSession(store, id);
          deps.log(`session ${id} unapproved over HTTP`);
        }
        json(res, await row(id));
        return;
      }
      if (action === '/close') {
        if (method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
        if (!store || !(await store.getSession(id))) throw unknown(id);
        const held = await deps.manager.closeById(id);
        // Not held here: a crashed server's orphan is closed at start already; one of another process is left to it.
        if (!held && (await store.requireSession(id)).status === 'open') throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open in another process`);
        deps.log(`session ${id} closed over HTTP`);
        return void res.writeHead(204).end();
      }
      if (method !== 'DELETE') return void res.writeHead(405, { allow: 'DELETE' }).end();
      const stored = store ? await store.getSession(id) : undefined;
      if (!store || !stored) throw unknown(id);
      if (deps.manager.holds(id) || stored.status === 'open') {
        throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open; close it first (POST /api/sessions/${id}/close)`);
      }
      // Another session's support memories come from this one: a reopen of that one rebuilds them from here.
      const user2 = (await store.listSessions()).find((s) => s.id !== id && Array.isArray(s.meta.support) && (s.meta.support as { fromSession?: string }[]).some((r) => r.fromSession === id));
      if (user2) throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is support of session "${user2.id}"; delete that one first`);
      await store.deleteSession(id);
      deps.log(`session ${id} deleted over HTTP`);
      res.writeHead(204).end();
    },
  };
}
