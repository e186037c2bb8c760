/**
 * The stored live pictures over HTTP (`serve --live-record-pictures`, live-picture-store.ts), so a
 * procedure can be reviewed with its masks afterwards:
 *
 *   GET /api/live-records                     → ["<record id>", …] (records with pictures)
 *   GET /api/live-records/<id>/frames         → { recordId, frames: [n, …] } (ascending)
 *   GET /api/live-records/<id>/frames/<n>.jpg → the JPEG of live frame n (404 when not stored)
 *
 * The record id is the live session's `recordId` (its masks: `cineseg export <id>`, frame numbers
 * are the same live frame indices). Access control has run before (http-server.ts); the id and the
 * frame become a path only through the store's checked pattern.
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CinesegError, ErrorCode } from '../errors.js';
import type { LivePictureStore } from './live-picture-store.js';

export const LIVE_RECORDS_PATH = '/api/live-records';

/** Handles a request under LIVE_RECORDS_PATH; errors are thrown as CinesegErrors for the server's error reply. */
export async function handleLiveRecords(store: LivePictureStore | null, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (!store) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, 'live pictures are not stored on this server (start it with --live-record-pictures)');
  const head = req.method === 'HEAD';
  const rest = path.slice(LIVE_RECORDS_PATH.length).replace(/^\/+/, '');
  if (rest === '') return sendJson(res, await store.records(), head);
  const m = /^([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/frames(?:\/(\d{1,9})\.jpg)?$/.exec(rest);
  if (!m) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, 'expected /api/live-records/<record id>/frames[/<n>.jpg]');
  const recordId = m[1]!;
  if (m[2] === undefined) return sendJson(res, { recordId, frames: await store.frames(recordId) }, head);
  const file = await store.path(recordId, Number(m[2]));
  res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'max-age=3600' });
  if (head) {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const rs = createReadStream(file);
    // Pruned between the lookup and the read: the headers are out, so the body just ends.
    rs.on('error', () => {
      res.end();
      resolve();
    });
    rs.on('end', resolve);
    rs.pipe(res);
  });
}

function sendJson(res: ServerResponse, body: unknown, head: boolean): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.end(head ? undefined : JSON.stringify(body));
}
