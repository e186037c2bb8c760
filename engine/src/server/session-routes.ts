/**
 * The HTTP routes of stored sessions, behind the same access check as every request
 * (http-server.ts runs it first):
 * - `GET /api/sessions`: the stored sessions, newest first (session-restore.ts StoredSessionInfo).
 * - `POST /api/sessions/:id/close`: closes it, also when another connection holds it (its
 *   propagation stops after the frame in flight); 204. Closing a closed one is no error.
 * - `DELETE /api/sessions/:id`: deletes it with all its prompts and masks; 204, or 409
 *   E_SESSION_BUSY while it is open (close it first) or another session takes support from it,
 *   404 E_SESSION_UNKNOWN.
 * A server without a store lists nothing and knows no session.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CinesegError, ErrorCode } from '../errors.js';
import type { AnnotationSink } from './annotation-sink.js';
import type { ClipCatalog } from './clip-catalog.js';
import type { SessionManager } from './session-manager.js';
import { listStoredSessions } from './session-restore.js';
import { StoreSink } from './store-sink.js';

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export interface SessionRoutes {
  /** Answers a request whose path is /api/sessions or under it. Throws coded errors (http-server.ts maps them). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export function sessionRoutes(deps: { sink: AnnotationSink; catalog: ClipCatalog; manager: SessionManager; log: (line: string) => void }): SessionRoutes {
  const store = deps.sink instanceof StoreSink ? deps.sink.store : null;
  const unknown = (id: string) => new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no stored session "${id}"`, { details: { sessionId: id } });
  return {
    async handle(req, res, path) {
      const method = req.method ?? 'GET';
      if (path === '/api/sessions') {
        if (method !== 'GET' && method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
        const list = store ? await listStoredSessions(store, deps.catalog) : [];
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        res.end(method === 'HEAD' ? undefined : JSON.stringify(list));
        return;
      }
      const m = /^\/api\/sessions\/([^/]+)(\/close)?$/.exec(path);
      // The id is client input echoed in replies and logs: only plain ids get that far.
      if (!m || !ID_RE.test(m[1]!)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, 'no such route (GET /api/sessions, POST /api/sessions/<id>/close, DELETE /api/sessions/<id>)');
      const id = m[1]!;
      if (m[2]) {
        if (method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
        if (!store?.getSession(id)) throw unknown(id);
        const held = await deps.manager.closeById(id);
        // Not held here: a crashed server's orphan is closed at start already; one of another process is left to it.
        if (!held && store.getSession(id)!.status === 'open') throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open in another process`);
        deps.log(`session ${id} closed over HTTP`);
        return void res.writeHead(204).end();
      }
      if (method !== 'DELETE') return void res.writeHead(405, { allow: 'DELETE' }).end();
      if (!store?.getSession(id)) throw unknown(id);
      if (deps.manager.holds(id) || store.getSession(id)!.status === 'open') {
        throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is open; close it first (POST /api/sessions/${id}/close)`);
      }
      // Another session's support memories come from this one: a reopen of that one rebuilds them from here.
      const user = store.listSessions().find((s) => s.id !== id && Array.isArray(s.meta.support) && (s.meta.support as { fromSession?: string }[]).some((r) => r.fromSession === id));
      if (user) throw new CinesegError(ErrorCode.E_SESSION_BUSY, `session "${id}" is support of session "${user.id}"; delete that one first`);
      store.deleteSession(id);
      deps.log(`session ${id} deleted over HTTP`);
      res.writeHead(204).end();
    },
  };
}
