/**
 * The HTTP side of the sessions panel (engine/src/server/session-routes.ts): close, approve,
 * unapprove, delete. Each resolves on success and rejects with the server's coded error (or
 * E_HTTP_FAILED: client-error.ts).
 */
import { fetchOrFail, httpError } from '../client-error.js';

async function call(method: 'POST' | 'DELETE', path: string): Promise<void> {
  const r = await fetchOrFail(path, { method });
  if (!r.ok) throw await httpError(r, `${method} ${path}`);
}

const base = (id: string) => `/api/sessions/${encodeURIComponent(id)}`;

export const sessionApi = {
  close: (id: string) => call('POST', `${base(id)}/close`),
  approve: (id: string) => call('POST', `${base(id)}/approve`),
  unapprove: (id: string) => call('POST', `${base(id)}/unapprove`),
  remove: (id: string) => call('DELETE', base(id)),
};

/** The export download of a session (engine/src/server/export-routes.ts). */
export function exportUrl(id: string, format: string, objects: readonly number[] | null, frames: [number, number] | null): string {
  const q = new URLSearchParams({ format });
  if (objects) q.set('objects', objects.join(','));
  if (frames) q.set('frames', `${frames[0]}-${frames[1]}`);
  return `${base(id)}/export?${q.toString()}`;
}
