/**
 * Opens the annotation store a spec names: a `postgres://` / `postgresql://` URL is the shared
 * PostgreSQL store (postgres-store.ts, loaded only then, so a SQLite-only run never loads `pg`),
 * anything else a SQLite file path (sqlite-store.ts). Every command's `--store` goes through here,
 * and so does the default when none is named: one per user, stated when first made.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { AnnotationStore } from './annotation-store.js';
import { SessionStore } from './session-store.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * The per-user SQLite file: `$XDG_DATA_HOME/cineseg/cineseg.db`, else
 * `~/.local/share/cineseg/cineseg.db`. Per user, not per working folder, so `export --list` run
 * anywhere finds what `serve` stored; a relative XDG_DATA_HOME is ignored, as the XDG spec says.
 */
export function userStorePath(): string {
  const xdg = process.env.XDG_DATA_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share');
  return join(base, 'cineseg', 'cineseg.db');
}

/** The store used when none is named: `$CINESEG_STORE`, else {@link userStorePath}. */
export function defaultStoreSpec(): string {
  const env = process.env.CINESEG_STORE;
  return env && env.length > 0 ? env : userStorePath();
}

/** Whether `spec` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresSpec(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

/**
 * Opens the store `spec` names (default {@link defaultStoreSpec}). When this creates the per-user
 * file and no one named a store ($CINESEG_STORE unset), it says so in one line on stderr: a person
 * who never chose a location learns where their annotations went, once.
 * @throws CinesegError E_STORE, E_STORE_UNAVAILABLE, E_STORE_VERSION, E_INPUT_NOT_FOUND (read-only on a missing file)
 */
export async function openStore(spec: string = defaultStoreSpec(), opts: { readonly?: boolean } = {}): Promise<AnnotationStore> {
  if (isPostgresSpec(spec)) return (await import('./postgres-store.js')).PostgresStore.open(spec, opts);
  const announce = !opts.readonly && !process.env.CINESEG_STORE && resolve(spec) === userStorePath() && !existsSync(spec);
  const store = SqliteStore.open(spec, opts);
  if (announce) process.stderr.write(`cineseg: annotations are stored in ${resolve(spec)} (set CINESEG_STORE or --store to change)\n`);
  return store;
}

/** A SessionStore wrapped (not owned: destroying the wrapper leaves it open), or the store itself. */
export function asAnnotationStore(x: SessionStore | AnnotationStore): AnnotationStore {
  return x instanceof SessionStore ? SqliteStore.wrap(x) : x;
}
