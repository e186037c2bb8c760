/**
 * Raw HTTP and WebSocket-upgrade attempts for the access tests. node:http sends the request
 * target exactly as written (fetch would resolve `..` segments before sending), and the ws client
 * reports a refused upgrade's status and body instead of just failing.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** GET `path` (sent verbatim) from host:port. */
export function rawGet(host: string, port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The JSON error body of a refused request. */
export function errorCode(r: RawResponse): string | undefined {
  try {
    return (JSON.parse(r.body) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

export type UpgradeResult = { ok: true; ws: WebSocket } | { ok: false; status: number; body: string };

/** Tries a WebSocket upgrade; resolves with the open socket or the refusal's status and body. */
export function tryUpgrade(url: string, opts: { headers?: Record<string, string>; origin?: string } = {}): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...(opts.headers ? { headers: opts.headers } : {}), ...(opts.origin ? { origin: opts.origin } : {}) });
    ws.once('open', () => resolve({ ok: true, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (e) => reject(e));
  });
}

/** Closes a socket and waits for it. */
export function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((r) => {
    ws.once('close', () => r());
    ws.close();
  });
}
