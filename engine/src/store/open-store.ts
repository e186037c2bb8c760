/**
 * Opens the annotation store a spec names: a `postgres://` / `postgresql://` URL is the shared
 * PostgreSQL store (postgres-store.ts, loaded only then, so a SQLite-only run never loads `pg`),
 * anything else a SQLite file path (sqlite-store.ts). Every command's `--store` goes through here.
 */
import { resolve } from 'node:path';
import type { AnnotationStore } from './annotation-store.js';
import { SessionStore } from './session-store.js';
import { SqliteStore } from './sqlite-store.js';

/** The store used when none is named: `$CINESEG_STORE`, else `cineseg.db` in the working folder. */
export function defaultStoreSpec(): string {
  const env = process.env.CINESEG_STORE;
  return env && env.length > 0 ? env : resolve('cineseg.db');
}

/** Whether `spec` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresSpec(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

/** Opens the store `spec` names (default {@link defaultStoreSpec}). @throws CinesegError E_STORE, E_STORE_UNAVAILABLE, E_STORE_VERSION, E_INPUT_NOT_FOUND (read-only on a missing file) */
export async function openStore(spec: string = defaultStoreSpec(), opts: { readonly?: boolean } = {}): Promise<AnnotationStore> {
  if (isPostgresSpec(spec)) return (await import('./postgres-store.js')).PostgresStore.open(spec, opts);
  return SqliteStore.open(spec, opts);
}

/** A SessionStore wrapped (not owned: destroying the wrapper leaves it open), or the store itself. */
export function asAnnotationStore(x: SessionStore | AnnotationStore): AnnotationStore {
  return x instanceof SessionStore ? SqliteStore.wrap(x) : x;
}
