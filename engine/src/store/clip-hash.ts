/**
 * A clip's identity in the store: the sha256 of its bytes (clips are matched by content, not
 * path, so a moved or renamed file finds its sessions), streamed and remembered per process.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';

/**
 * Hashes this process already made, by path, with the file's identity when it was hashed. An hour
 * of endoscopy is gigabytes: opening it again (a second session, a reopen after a close) must not
 * read it all again. A file changed in place changes its size, mtime or inode (as make and rsync
 * assume), and then it is hashed anew.
 */
const hashMemo = new Map<string, { dev: number; ino: number; size: number; mtimeMs: number; hash: string }>();
const HASH_MEMO_MAX = 1024;

/** sha256 hex of a file's bytes, streamed (clips can be large); remembered while the file is unchanged. */
export async function hashFile(path: string): Promise<string> {
  const abs = resolve(path);
  const st = await stat(abs).catch((cause: Error) => {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `cannot read ${path} to hash it: ${cause.message}`, { cause });
  });
  const known = hashMemo.get(abs);
  if (known && known.dev === st.dev && known.ino === st.ino && known.size === st.size && known.mtimeMs === st.mtimeMs) return known.hash;
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(abs)) h.update(chunk as Buffer);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `cannot read ${path} to hash it: ${(cause as Error).message}`, { cause });
  }
  const hash = h.digest('hex');
  hashMemo.delete(abs);
  if (hashMemo.size >= HASH_MEMO_MAX) hashMemo.delete(hashMemo.keys().next().value!);
  hashMemo.set(abs, { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, hash });
  return hash;
}
