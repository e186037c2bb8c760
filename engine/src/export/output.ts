/** File writing for exporters: folders created, failures as E_OUTPUT_WRITE. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';

/** Writes bytes (or text) to `path`, creating its folder. */
export function writeOutput(path: string, data: Uint8Array | string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_OUTPUT_WRITE, `cannot write ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** Writes `value` as JSON. */
export function writeJson(path: string, value: unknown): void {
  writeOutput(path, JSON.stringify(value));
}
