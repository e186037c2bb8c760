/**
 * The `--store <file|url>` of the commands that read stored sessions (export, finetune): a SQLite
 * file or a postgres:// URL, resolved by store/open-store.ts, with $CINESEG_STORE or the per-user
 * file as the default (defaultStoreSpec there).
 */
import { existsSync } from 'node:fs';
import { CinesegError, ErrorCode } from '../errors.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { isPostgresSpec, openStore } from '../store/open-store.js';

/** What `--help` says of `--store`, after what the command uses it for. */
export const STORE_SPEC_HELP = 'a SQLite file or postgres://user:pass@host:port/db (default: $CINESEG_STORE, else ~/.local/share/cineseg/cineseg.db, under $XDG_DATA_HOME when set)';

/**
 * Opens the store a command names, read-only, runs `fn` on it and closes it, also when `fn` throws.
 * A SQLite path that does not exist is E_INPUT_NOT_FOUND in `missing`'s words: a reader never
 * creates an empty store where a person mistyped a path.
 */
export async function withStoreReadonly<T>(spec: string, missing: (spec: string) => string, fn: (store: AnnotationStore) => Promise<T>): Promise<T> {
  if (!isPostgresSpec(spec) && !existsSync(spec)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, missing(spec));
  const store = await openStore(spec, { readonly: true });
  try {
    return await fn(store);
  } finally {
    await store.destroy();
  }
}
