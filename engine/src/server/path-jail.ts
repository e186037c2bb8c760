/**
 * Every file the server reads for a client lives under a root (a media folder, the HLS cache, the
 * built player). Two checks keep it there: the request path is refused outright when it holds a
 * dot-dot segment in any spelling, a NUL or a backslash, and the file finally opened is the
 * realpath of the candidate, which must lie inside the realpath of its root — so a symlink that
 * points out of the root is refused even when the name looks innocent.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';

function forbidden(message: string): CinesegError {
  return new CinesegError(ErrorCode.E_PATH_FORBIDDEN, message);
}

/**
 * The decoded path of a raw request target (`req.url`), without normalising it: browsers never send
 * dot segments (they resolve them first), so a request that still has one, raw or percent-encoded,
 * is refused here instead of being quietly rewritten into some other path.
 * @throws CinesegError E_PATH_FORBIDDEN
 */
export function requestPath(rawUrl: string): string {
  const raw = rawUrl.split(/[?#]/, 1)[0] ?? '';
  if (!raw.startsWith('/')) throw forbidden('request path must start with /');
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw forbidden('request path is not valid percent-encoding');
  }
  if (path.includes('\0') || path.includes('\\')) throw forbidden('request path holds a NUL or a backslash');
  if (path.split('/').some((s) => s === '..' || s === '.')) throw forbidden('request path holds a dot segment');
  return path;
}

/** Whether `p` is `root` or below it (both already absolute and resolved). */
export function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The realpath of `root/rel`, checked to lie inside the realpath of `root`; null when it does not
 * exist. `rel` uses `/` separators and must be relative and free of dot segments.
 * @throws CinesegError E_PATH_FORBIDDEN
 */
export async function resolveInside(root: string, rel: string): Promise<string | null> {
  if (isAbsolute(rel) || rel.includes('\0') || rel.includes('\\')) throw forbidden('path must be relative to its root');
  if (rel.split('/').some((s) => s === '..')) throw forbidden('path holds a dot-dot segment');
  const rootReal = await realpath(root).catch(() => null);
  if (rootReal === null) return null;
  return checkedRealpath(rootReal, join(rootReal, ...rel.split('/').filter(Boolean)));
}

/**
 * The realpath of `file`, checked to lie inside `rootReal` (a realpath); null when the file does
 * not exist.
 * @throws CinesegError E_PATH_FORBIDDEN
 */
export async function checkedRealpath(rootReal: string, file: string): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return null;
  }
  if (!isInside(rootReal, real)) throw forbidden('path resolves outside its root (symlink)');
  return real;
}
