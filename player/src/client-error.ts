/**
 * The player's errors are the engine's: a CinesegError with a code from engine/src/errors.ts — the
 * server's code as it sent it, or one of the player/ group (E_NOT_CONNECTED, E_HTTP_FAILED) for
 * what fails on this side. Panels show `errorLine(e)`: `E_CODE: message`, like the CLI.
 */
import { CinesegError, ErrorCode, isCinesegError } from '../../engine/src/errors.js';

/** The server's `{code, message}` (WebSocket error or HTTP error body) as an error of the player. */
export function serverError(code: string, message: string): CinesegError {
  // A newer server may send a code this player does not list; it is kept as sent.
  return new CinesegError(code as ErrorCode, message);
}

/** The WebSocket is not open (or closed while a request waited for its reply). */
export function notConnected(message = 'not connected'): CinesegError {
  return new CinesegError(ErrorCode.E_NOT_CONNECTED, message);
}

/** The error of a failed HTTP answer: its coded body when it has one, else E_HTTP_FAILED with the status. */
export async function httpError(r: Response, what: string): Promise<CinesegError> {
  const body = (await r.json().catch(() => ({}))) as { code?: unknown; message?: unknown };
  if (typeof body.code === 'string' && typeof body.message === 'string') return serverError(body.code, body.message);
  return new CinesegError(ErrorCode.E_HTTP_FAILED, `${what} failed (HTTP ${r.status})`);
}

/** A fetch that rejects with E_HTTP_FAILED when no answer came (server gone, network down). */
export async function fetchOrFail(input: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(input, init);
  } catch (e) {
    throw new CinesegError(ErrorCode.E_HTTP_FAILED, `${init?.method ?? 'GET'} ${input}: no answer (${(e as Error).message})`, { cause: e });
  }
}

/** The line a panel shows for an error: `E_CODE: message` when coded, the message otherwise. */
export function errorLine(e: unknown): string {
  if (isCinesegError(e)) return e.toLine();
  return e instanceof Error ? e.message : String(e);
}
