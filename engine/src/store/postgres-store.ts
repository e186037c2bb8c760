/**
 * The PostgreSQL implementation of {@link AnnotationStore}: one database shared by several
 * servers and workers (`--store postgres://user:pass@host:port/db`).
 *
 * - Opening connects once (E_STORE_UNAVAILABLE when the database cannot be reached, naming
 *   host:port/db and never the password) and applies the migrations of postgres-schema.ts.
 * - Every write is a transaction of its own and resolves only after COMMIT (postgres-pool.ts);
 *   the masks' statements, the hot path, are in postgres-masks.ts.
 * - Locking: every write of a session first takes its row's lock, so writers of one session queue
 *   (never deadlock) and the object versions checked by `ifVersions` cannot change in between.
 *   Reads take no locks and see committed data only.
 * - `transaction(fn)` checks one client out and hands `fn` a PostgresStore bound to it; that
 *   store's writes are savepoints in the one transaction.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { CinesegError, ErrorCode } from '../errors.js';
import { toCompressed, type CompressedRle } from '../mask/rle.js';
import type { VisJson } from '../mask/vis-json.js';
import type { AnnotationStore, EditOptions, SessionSummary } from './annotation-store.js';
import { checkObjectId, completeFramesIn, currentMasksIn, getMaskIn, maskHistoryIn, putMasksIn } from './postgres-masks.js';
import { PostgresHistory } from './postgres-history.js';
import { ClientExec, describeUrl, PG_TYPES, pgError, PoolExec, type Db, type PgExec } from './postgres-pool.js';
import { clipFromRow, objectFromRow, promptFromRow, sessionFromRow, type ClipRow, type ObjectRow, type PromptRow, type SessionRow, type VersionedObject } from './postgres-rows.js';
import { checkSchema, migrate, PG_SCHEMA_VERSION, schemaVersion } from './postgres-schema.js';
import { checkVersions } from './postgres-versions.js';
import { sessionVisJson } from './session-vis-json.js';
import type { ClipInput, ClipRecord, LoadedSession, MaskInput, MaskRecord, PromptInput, PromptRecord, SessionRecord, SessionStatus } from './session-store.js';

export interface PostgresStoreOptions {
  readonly?: boolean;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** How long opening a connection may take before E_STORE_UNAVAILABLE (default 10 s). */
  connectTimeoutMs?: number;
}

interface Shared {
  pool: pg.Pool;
  where: string;
  destroyed: boolean;
}

export class PostgresStore implements AnnotationStore {
  /** Connects, migrates (unless read-only) and returns the store. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const { where, location } = describeUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      types: PG_TYPES,
      application_name: 'cineseg',
      // A read-only store cannot write even by mistake: the server refuses it.
      ...(opts.readonly ? { options: '-c default_transaction_read_only=on' } : {}),
    });
    // An idle client whose server went away emits 'error' on the pool; unheard, it would kill the
    // process. The next query gets a fresh connection or reports E_STORE_UNAVAILABLE itself.
    pool.on('error', () => undefined);
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new CinesegError(ErrorCode.E_STORE_UNAVAILABLE, `cannot reach the store at ${where}: ${(err as Error).message}`, { cause: err, details: { where } });
    }
    const onError = () => undefined; // as in PoolExec.withClient: the query in flight rejects by itself
    client.on('error', onError);
    try {
      if (opts.readonly) await checkSchema(client, where);
      else await migrate(client, where);
      client.off('error', onError);
      client.release();
    } catch (err) {
      client.off('error', onError);
      client.release(true);
      await pool.end().catch(() => undefined);
      throw pgError(`open ${where}`, err, where);
    }
    return new PostgresStore({ pool, where, destroyed: false }, new PoolExec(pool, where), location, url, opts.readonly ?? false);
  }

  readonly kind = 'postgres' as const;
  readonly history: PostgresHistory;

  private constructor(
    private readonly shared: Shared,
    private readonly exec: PgExec,
    readonly location: string,
    readonly spec: string,
    readonly readonly: boolean,
  ) {
    this.history = new PostgresHistory(
      exec,
      () => this.writable(),
      () => this.alive(),
    );
  }

  // ---------------------------------------------------------------- clips

  async upsertClip(clip: ClipInput): Promise<ClipRecord> {
    this.writable();
    return this.exec.write('upsertClip', async (db) => {
      // One statement: two workers registering the same clip at once get the same row.
      const r = await db.query<ClipRow>(
        `INSERT INTO clips (path, content_hash, width, height, num_frames, fps, frame_time_ms, dicom, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
         ON CONFLICT (content_hash) DO UPDATE SET path = excluded.path RETURNING *`,
        [clip.path, clip.contentHash, clip.width, clip.height, clip.numFrames, clip.fps, clip.frameTimeMs ?? null, clip.dicom ? JSON.stringify(clip.dicom) : null, new Date()],
      );
      return clipFromRow(r.rows[0]!);
    });
  }

  async getClip(idOrHash: number | string): Promise<ClipRecord | undefined> {
    this.alive();
    const r = await this.exec.read('getClip', (db) =>
      typeof idOrHash === 'number' ? db.query<ClipRow>('SELECT * FROM clips WHERE id = $1', [idOrHash]) : db.query<ClipRow>('SELECT * FROM clips WHERE content_hash = $1', [idOrHash]),
    );
    return r.rows[0] ? clipFromRow(r.rows[0]) : undefined;
  }

  async growClip(clipId: number, numFrames: number): Promise<void> {
    this.writable();
    await this.exec.write('growClip', (db) => db.query('UPDATE clips SET num_frames = $1 WHERE id = $2 AND num_frames < $1', [numFrames, clipId]));
  }

  // ---------------------------------------------------------------- sessions

  async createSession(clipId: number, opts: { id?: string; meta?: Record<string, unknown> } = {}): Promise<SessionRecord> {
    this.writable();
    const id = opts.id ?? randomUUID();
    return this.exec.write('createSession', async (db) => {
      const c = await db.query('SELECT 1 FROM clips WHERE id = $1', [clipId]);
      if (c.rowCount === 0) throw new CinesegError(ErrorCode.E_STORE, `store: no clip with id ${clipId}`);
      const t = new Date();
      const r = await db.query<SessionRow>("INSERT INTO sessions (id, clip_id, status, meta, prompt_version, created_at, updated_at) VALUES ($1, $2, 'open', $3::jsonb, 0, $4, $4) RETURNING *", [
        id,
        clipId,
        JSON.stringify(opts.meta ?? {}),
        t,
      ]);
      return sessionFromRow(r.rows[0]!);
    });
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    this.alive();
    const r = await this.exec.read('getSession', (db) => db.query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id]));
    return r.rows[0] ? sessionFromRow(r.rows[0]) : undefined;
  }

  async requireSession(id: string): Promise<SessionRecord> {
    const s = await this.getSession(id);
    if (!s) throw this.unknownSession(id);
    return s;
  }

  async listSessions(filter: { status?: SessionStatus; clipId?: number } = {}): Promise<SessionRecord[]> {
    this.alive();
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status) where.push(`status = $${args.push(filter.status)}`);
    if (filter.clipId !== undefined) where.push(`clip_id = $${args.push(filter.clipId)}`);
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, seq DESC`;
    const r = await this.exec.read('listSessions', (db) => db.query<SessionRow>(sql, args));
    return r.rows.map(sessionFromRow);
  }

  async sessionSummaries(): Promise<SessionSummary[]> {
    this.alive();
    const r = await this.exec.read('sessionSummaries', (db) =>
      db.query<SessionRow & { clip_path: string; num_frames: number; objects: number; masked: number }>(
        `SELECT s.*, c.path AS clip_path, c.num_frames AS num_frames,
           (SELECT COUNT(*) FROM objects o WHERE o.session_id = s.id AND NOT o.removed) AS objects,
           (SELECT COUNT(DISTINCT m.frame) FROM masks m WHERE m.session_id = s.id AND m.current) AS masked
         FROM sessions s JOIN clips c ON c.id = s.clip_id ORDER BY s.created_at DESC, s.seq DESC`,
      ),
    );
    return r.rows.map((row) => ({ ...sessionFromRow(row), clipPath: row.clip_path, numFrames: row.num_frames, objects: row.objects, maskedFrames: row.masked }));
  }

  openSessions(): Promise<SessionRecord[]> {
    return this.listSessions({ status: 'open' });
  }

  async setSessionStatus(id: string, status: SessionStatus): Promise<void> {
    this.writable();
    const n = await this.exec.write('setSessionStatus', async (db) => (await db.query('UPDATE sessions SET status = $2, updated_at = $3 WHERE id = $1', [id, status, new Date()])).rowCount);
    if (n === 0) throw this.unknownSession(id);
  }

  async deleteSession(id: string): Promise<void> {
    this.writable();
    await this.exec.write('deleteSession', async (db) => {
      await this.lockSession(db, id);
      for (const t of ['prompt_removals', 'edits', 'masks', 'prompts', 'objects']) await db.query(`DELETE FROM ${t} WHERE session_id = $1`, [id]);
      await db.query('DELETE FROM sessions WHERE id = $1', [id]);
    });
  }

  async updateSessionMeta(id: string, meta: Record<string, unknown>): Promise<void> {
    this.writable();
    // `||` replaces top-level keys in the database itself: two writers merging at once lose nothing.
    const n = await this.exec.write(
      'updateSessionMeta',
      async (db) => (await db.query('UPDATE sessions SET meta = meta || $2::jsonb, updated_at = $3 WHERE id = $1', [id, JSON.stringify(meta), new Date()])).rowCount,
    );
    if (n === 0) throw this.unknownSession(id);
  }

  async loadSession(id: string): Promise<LoadedSession> {
    this.alive();
    // One snapshot: a session being written elsewhere is read as of one moment.
    return this.exec.snapshot('loadSession', async (db) => {
      const s = await db.query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id]);
      if (!s.rows[0]) throw this.unknownSession(id);
      const session = sessionFromRow(s.rows[0]);
      const clip = await db.query<ClipRow>('SELECT * FROM clips WHERE id = $1', [session.clipId]);
      return {
        session,
        clip: clipFromRow(clip.rows[0]!),
        objects: await this.objectsIn(db, id, true),
        prompts: await this.promptsIn(db, id, undefined),
        masks: await currentMasksIn(db, id, {}),
      };
    });
  }

  // ---------------------------------------------------------------- objects

  async addObject(sessionId: string, objectId: number, label = 'object', opts: EditOptions = {}): Promise<VersionedObject> {
    this.writable();
    return this.exec.write('addObject', async (db) => {
      await this.lockSession(db, sessionId);
      checkObjectId(objectId);
      const t = new Date();
      const old = (await db.query<ObjectRow>('SELECT * FROM objects WHERE session_id = $1 AND object_id = $2', [sessionId, objectId])).rows[0];
      // A write only when it makes, revives or renames the object; that write bumps the version.
      const renamed = old !== undefined && label !== 'object' && label !== old.label;
      if (!old || old.removed || renamed) checkVersions(sessionId, new Map([[objectId, old?.version ?? 0]]), opts.ifVersions);
      const r = old
        ? await db.query<ObjectRow>(`UPDATE objects SET removed = false, label = $3, version = version + $4 WHERE session_id = $1 AND object_id = $2 RETURNING *`, [
            sessionId,
            objectId,
            renamed ? label : old.label,
            old.removed || renamed ? 1 : 0,
          ])
        : await db.query<ObjectRow>('INSERT INTO objects (session_id, object_id, label, removed, version, created_at) VALUES ($1, $2, $3, false, 1, $4) RETURNING *', [sessionId, objectId, label, t]);
      await db.query('UPDATE sessions SET updated_at = $2 WHERE id = $1', [sessionId, t]);
      return objectFromRow(r.rows[0]!);
    });
  }

  async removeObject(sessionId: string, objectId: number, opts: EditOptions = {}): Promise<void> {
    this.writable();
    await this.exec.write('removeObject', async (db) => {
      const s = await this.lockSession(db, sessionId);
      const r = await db.query<{ version: number }>('UPDATE objects SET removed = true, version = version + 1 WHERE session_id = $1 AND object_id = $2 RETURNING version', [sessionId, objectId]);
      if (!r.rows[0]) throw new CinesegError(ErrorCode.E_OBJECT_UNKNOWN, `session has no object ${objectId}`, { details: { objectId } });
      checkVersions(sessionId, new Map([[objectId, r.rows[0].version - 1]]), opts.ifVersions);
      // The prompt version at the removal (session-store.ts says why): an id used again starts afresh.
      const removals = { ...((s.meta.removals as Record<string, number> | undefined) ?? {}), [objectId]: s.prompt_version };
      await db.query("UPDATE sessions SET meta = jsonb_set(meta, '{removals}', $2::jsonb), updated_at = $3 WHERE id = $1", [sessionId, JSON.stringify(removals), new Date()]);
    });
  }

  async listObjects(sessionId: string, opts: { includeRemoved?: boolean } = {}): Promise<VersionedObject[]> {
    this.alive();
    return this.exec.read('listObjects', (db) => this.objectsIn(db, sessionId, opts.includeRemoved ?? false));
  }

  async objectVersions(sessionId: string): Promise<Record<number, number>> {
    this.alive();
    const r = await this.exec.read('objectVersions', (db) => db.query<{ object_id: number; version: number }>('SELECT object_id, version FROM objects WHERE session_id = $1', [sessionId]));
    return Object.fromEntries(r.rows.map((x) => [x.object_id, x.version]));
  }

  // ---------------------------------------------------------------- prompts

  async addPrompt(sessionId: string, prompt: PromptInput, opts: EditOptions = {}): Promise<PromptRecord> {
    this.writable();
    return this.exec.write('addPrompt', async (db) => {
      await this.lockSession(db, sessionId);
      checkObjectId(prompt.objectId);
      if (!Number.isInteger(prompt.frame) || prompt.frame < 0) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `prompt frame must be a non-negative integer, got ${prompt.frame}`);
      const { objectId, frame, ...data } = prompt;
      const stored: Record<string, unknown> = data.kind === 'mask' ? { ...data, mask: toCompressed(data.mask) as CompressedRle } : data;
      const t = new Date();
      const o = await db.query<{ version: number }>(
        `INSERT INTO objects (session_id, object_id, label, removed, version, created_at) VALUES ($1, $2, 'object', false, 1, $3)
         ON CONFLICT (session_id, object_id) DO UPDATE SET removed = false, version = objects.version + 1 RETURNING version`,
        [sessionId, objectId, t],
      );
      checkVersions(sessionId, new Map([[objectId, o.rows[0]!.version - 1]]), opts.ifVersions);
      const v = await db.query<{ prompt_version: number }>('UPDATE sessions SET prompt_version = prompt_version + 1, updated_at = $2 WHERE id = $1 RETURNING prompt_version', [sessionId, t]);
      const r = await db.query<PromptRow>('INSERT INTO prompts (session_id, object_id, frame, kind, data, version, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) RETURNING *', [
        sessionId,
        objectId,
        frame,
        data.kind,
        JSON.stringify(stored),
        v.rows[0]!.prompt_version,
        t,
      ]);
      return promptFromRow(r.rows[0]!);
    });
  }

  async listPrompts(sessionId: string, opts: { objectId?: number } = {}): Promise<PromptRecord[]> {
    this.alive();
    return this.exec.read('listPrompts', (db) => this.promptsIn(db, sessionId, opts.objectId));
  }

  // ---------------------------------------------------------------- masks

  async putMasks(sessionId: string, masks: readonly MaskInput[], opts: EditOptions = {}): Promise<MaskRecord[]> {
    this.writable();
    if (masks.length === 0) return [];
    return this.exec.write('putMasks', (db) => putMasksIn(db, sessionId, masks, opts.ifVersions));
  }

  async getMask(sessionId: string, objectId: number, frame: number): Promise<MaskRecord | undefined> {
    this.alive();
    return this.exec.read('getMask', (db) => getMaskIn(db, sessionId, objectId, frame));
  }

  async currentMasks(sessionId: string, opts: { objectId?: number; includeRemoved?: boolean } = {}): Promise<MaskRecord[]> {
    this.alive();
    return this.exec.read('currentMasks', (db) => currentMasksIn(db, sessionId, opts));
  }

  async maskHistory(sessionId: string, objectId: number, frame: number): Promise<MaskRecord[]> {
    this.alive();
    return this.exec.read('maskHistory', (db) => maskHistoryIn(db, sessionId, objectId, frame));
  }

  async completeFrames(sessionId: string): Promise<number[]> {
    this.alive();
    return this.exec.read('completeFrames', (db) => completeFramesIn(db, sessionId));
  }

  /** session-vis-json.ts, from one snapshot (loadSession's). */
  async toVisJson(sessionId: string): Promise<VisJson> {
    return sessionVisJson(await this.loadSession(sessionId));
  }

  // ---------------------------------------------------------------- transactions, maintenance

  async transaction<T>(fn: (tx: AnnotationStore) => Promise<T>): Promise<T> {
    this.writable();
    if (this.exec instanceof ClientExec) {
      // Already bound: a nested transaction is a savepoint of the outer one.
      const exec = this.exec;
      const sp = await exec.read('transaction', async (db) => {
        const name = `cineseg_tx${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
        await db.query(`SAVEPOINT ${name}`);
        return name;
      });
      try {
        const out = await fn(this);
        await exec.read('transaction', (db) => db.query(`RELEASE SAVEPOINT ${sp}`));
        return out;
      } catch (err) {
        await exec.read('transaction', (db) => db.query(`ROLLBACK TO SAVEPOINT ${sp}`)).catch(() => undefined);
        throw err;
      }
    }
    const pool = this.exec as PoolExec;
    return pool.withClient('transaction', async (client) => {
      const exec = new ClientExec(client, this.shared.where);
      const tx = new PostgresStore(this.shared, exec, this.location, this.spec, this.readonly);
      try {
        await client.query('BEGIN');
        const out = await fn(tx);
        exec.end();
        await client.query('COMMIT');
        return out;
      } catch (err) {
        exec.end();
        await client.query('ROLLBACK').catch(() => undefined);
        throw pgError('transaction', err, this.shared.where);
      }
    });
  }

  /** 'ok', or the first problems: schema version, supersession links, prompt versions. */
  async integrityCheck(): Promise<string> {
    this.alive();
    return this.exec.snapshot('integrityCheck', async (db) => {
      const problems: string[] = [];
      const v = await schemaVersion(db);
      if (v !== PG_SCHEMA_VERSION) problems.push(`schema version ${v}, expected ${PG_SCHEMA_VERSION}`);
      const checks: [string, string][] = [
        ['current masks with a superseded_by', 'SELECT COUNT(*) AS n FROM masks WHERE current AND superseded_by IS NOT NULL'],
        ['superseded masks without a superseded_by', 'SELECT COUNT(*) AS n FROM masks WHERE NOT current AND superseded_by IS NULL'],
        [
          'masks superseded by a missing, older or other-frame row',
          `SELECT COUNT(*) AS n FROM masks m LEFT JOIN masks s ON s.id = m.superseded_by
           WHERE m.superseded_by IS NOT NULL AND (s.id IS NULL OR s.id <= m.id OR s.session_id <> m.session_id OR s.object_id <> m.object_id OR s.frame <> m.frame)`,
        ],
        ['masks of objects the session does not have', 'SELECT COUNT(*) AS n FROM masks m WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.session_id = m.session_id AND o.object_id = m.object_id)'],
        [
          'sessions whose prompt version is behind their prompts',
          'SELECT COUNT(*) AS n FROM sessions s WHERE s.prompt_version < (SELECT COALESCE(MAX(version), 0) FROM prompts p WHERE p.session_id = s.id)',
        ],
      ];
      for (const [what, sql] of checks) {
        const n = (await db.query<{ n: number }>(sql)).rows[0]!.n;
        if (n > 0) problems.push(`${n} ${what}`);
      }
      return problems.length ? problems.join('; ') : 'ok';
    });
  }

  async destroy(): Promise<void> {
    // A store bound to a transaction does not own the pool.
    if (this.exec instanceof ClientExec || this.shared.destroyed) return;
    this.shared.destroyed = true;
    await this.shared.pool.end();
  }

  // ---------------------------------------------------------------- helpers

  /** Locks the session's row for this transaction (see the module comment); E_SESSION_UNKNOWN if none. */
  private async lockSession(db: Db, id: string): Promise<SessionRow> {
    const r = await db.query<SessionRow>('SELECT * FROM sessions WHERE id = $1 FOR NO KEY UPDATE', [id]);
    if (!r.rows[0]) throw this.unknownSession(id);
    return r.rows[0];
  }

  private async objectsIn(db: Db, sessionId: string, includeRemoved: boolean): Promise<VersionedObject[]> {
    const r = await db.query<ObjectRow>(`SELECT * FROM objects WHERE session_id = $1 ${includeRemoved ? '' : 'AND NOT removed'} ORDER BY object_id`, [sessionId]);
    return r.rows.map(objectFromRow);
  }

  private async promptsIn(db: Db, sessionId: string, objectId: number | undefined): Promise<PromptRecord[]> {
    const r =
      objectId === undefined
        ? await db.query<PromptRow>('SELECT * FROM prompts WHERE session_id = $1 ORDER BY version', [sessionId])
        : await db.query<PromptRow>('SELECT * FROM prompts WHERE session_id = $1 AND object_id = $2 ORDER BY version', [sessionId, objectId]);
    return r.rows.map(promptFromRow);
  }

  private unknownSession(id: string): CinesegError {
    return new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no session "${id}" in ${this.location}`, { details: { sessionId: id } });
  }

  private alive(): void {
    if (this.shared.destroyed) throw new CinesegError(ErrorCode.E_STORE, 'store was destroyed');
  }

  private writable(): void {
    this.alive();
    if (this.readonly) throw new CinesegError(ErrorCode.E_STORE, `store ${this.location} was opened read-only`);
  }
}
