/**
 * Where a command may write: the folder an output goes into must exist. A typo in `--out` should
 * be a one-line error, not a tree of folders made from the root. (The library's writers still
 * create folders: a caller of the API asked for that path.)
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';

/**
 * @param folderItself the output is a folder (PNG frames, a batch): it may be new, its parent must exist
 * @throws CinesegError E_OUTPUT_WRITE naming the missing folder
 */
export function checkOutputPath(path: string, flag: string, folderItself = false): void {
  const abs = resolve(path);
  const parent = folderItself && existsSync(abs) ? abs : dirname(abs);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `${flag} ${path}: the folder ${parent} does not exist (create it first)`);
  }
}
