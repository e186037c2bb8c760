/**
 * How the PostgreSQL store talks to its database: a pg Pool for the store itself, or one
 * checked-out client for a store bound to a transaction (PostgresStore.transaction), behind one
 * small interface, {@link PgExec}, so the store's methods are written once for both.
 *
 * - `read` runs statements outside any transaction of ours (pool), or inside the bound one.
 * - `write` runs `fn` in a transaction: BEGIN … COMMIT on a checked-out client, resolving only after
 *   COMMIT returned (the store's durability contract); in a bound store a SAVEPOINT … RELEASE, so a
 *   call that fails (E_EDIT_CONFLICT, a bad mask) leaves nothing and the outer transaction usable.
 * - `snapshot` gives several reads one consistent view (REPEATABLE READ, READ ONLY).
 *
 * Errors leave as CinesegError: E_STORE_UNAVAILABLE when the database cannot be reached (refused,
 * gone, shutting down, authentication), E_STORE for a failed statement. Messages name the database
 * as host:port/db, never the password.
 */
import pg from 'pg';
import { CinesegError, ErrorCode } from '../errors.js';

/** What statements run on: the pool or one client. */
export interface Db {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: pg.QueryConfig | string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Where a URL points, safe to print. */
export interface PgTarget {
  /** host:port/db */
  where: string;
  /** The URL without its password. */
  location: string;
}

export function describeUrl(url: string): PgTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CinesegError(ErrorCode.E_STORE_UNAVAILABLE, 'store URL is not a valid postgres:// URL');
  }
  const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || u.username || 'postgres';
  const where = `${u.hostname || 'localhost'}:${u.port || '5432'}/${db}`;
  if (u.password) u.password = '';
  return { where, location: u.toString() };
}

// node errors (no SQLSTATE) and SQLSTATEs that mean "the database is not there for us".
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
const UNAVAILABLE_SQLSTATE = /^(08|28|57P0[123]|3D000|53300)/;
const UNAVAILABLE_MESSAGE = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed/i;

/** Whether an error from pg means the database cannot be reached (as opposed to a failed statement). */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  return UNAVAILABLE_ERRNO.has(code) || UNAVAILABLE_SQLSTATE.test(code) || (typeof e?.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message));
}

/** A pg error as the store's CinesegError (a CinesegError passes through). */
export function pgError(what: string, cause: unknown, where: string): CinesegError {
  if (cause instanceof CinesegError) return cause;
  const message = (cause as Error)?.message ?? String(cause);
  if (isUnavailable(cause)) return new CinesegError(ErrorCode.E_STORE_UNAVAILABLE, `store ${where} unavailable (${what}): ${message}`, { cause });
  return new CinesegError(ErrorCode.E_STORE, `store: ${what}: ${message}`, { cause });
}

/** Types read as JS values: bigint ids and counts as numbers (ids stay below 2^53). */
export const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PgExec {
  readonly where: string;
  read<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T>;
  snapshot<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T>;
  write<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T>;
}

/** Statements on the pool; a write checks a client out for its transaction. */
export class PoolExec implements PgExec {
  constructor(
    private readonly pool: pg.Pool,
    readonly where: string,
  ) {}

  async read<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (err) {
      throw pgError(what, err, this.where);
    }
  }

  snapshot<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.inTransaction(what, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn);
  }

  write<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.inTransaction(what, 'BEGIN', fn);
  }

  /** Checks out a client for `fn`'s whole run (PostgresStore.transaction). */
  async withClient<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw pgError(what, err, this.where);
    }
    let broken: unknown;
    // A checked-out client whose server goes away emits 'error' (the pool listens only to idle
    // ones); unheard it would kill the process. The query in flight rejects by itself.
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (err) {
      if (isUnavailable(err) || (err instanceof CinesegError && err.code === ErrorCode.E_STORE_UNAVAILABLE)) broken = err;
      throw err;
    } finally {
      client.off('error', onError);
      // A client whose connection failed must not go back to the pool.
      client.release(broken ? (broken as Error) : undefined);
    }
  }

  private inTransaction<T>(what: string, begin: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.withClient(what, async (client) => {
      try {
        await client.query(begin);
        const out = await fn(client);
        // The promise resolves only after COMMIT returned: an ack that waits for it is durable.
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw pgError(what, err, this.where);
      }
    });
  }
}

/**
 * Statements on the one client of an open transaction. Calls are serialized (a caller may fire
 * several at once; their savepoints must not interleave), and each write is a savepoint.
 */
export class ClientExec implements PgExec {
  private chain: Promise<unknown> = Promise.resolve();
  private savepoints = 0;
  private ended = false;

  constructor(
    private readonly client: pg.PoolClient,
    readonly where: string,
  ) {}

  /** After the transaction ended: later calls fail with E_STORE. */
  end(): void {
    this.ended = true;
  }

  read<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.serial(what, () => fn(this.client));
  }

  snapshot<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.read(what, fn);
  }

  write<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.serial(what, async () => {
      const sp = `cineseg_sp${++this.savepoints}`;
      await this.client.query(`SAVEPOINT ${sp}`);
      try {
        const out = await fn(this.client);
        await this.client.query(`RELEASE SAVEPOINT ${sp}`);
        return out;
      } catch (err) {
        await this.client.query(`ROLLBACK TO SAVEPOINT ${sp}`).catch(() => undefined);
        throw err;
      }
    });
  }

  private serial<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.ended) throw new CinesegError(ErrorCode.E_STORE, `store: ${what}: the transaction this store was bound to has ended`);
      try {
        return await fn();
      } catch (err) {
        throw pgError(what, err, this.where);
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
