/**
 * The mask statements of the PostgreSQL store: putMasks, the hot path (propagation writes a mask
 * per frame per object, a worker fleet writes many sessions at once), and the reads of masks.
 *
 * putMasks is one transaction of a fixed number of round trips however many masks it holds:
 * 1. lock the session row (UPDATE … RETURNING: also the clip's size for the checks). Every write
 *    of a session locks it first, so writers of one session queue here and never deadlock;
 * 2. upsert the touched objects, +1 on their versions, RETURNING the versions (the ifVersions check);
 * 3. take the new rows' ids from the sequence, so supersession is known before anything is written
 *    (a batch may hold the same (object, frame) twice: the later row supersedes the earlier);
 * 4. mark the current rows being replaced (current = false, superseded_by = the new id);
 * 5. insert the rows from arrays (INSERT … SELECT FROM unnest: one statement and one plan for any
 *    batch size, without the 65535-parameter limit of a VALUES list), chunked to bound a statement.
 * Only statements whose plan cannot go stale (primary-key probes, the insert) are named (prepared
 * once per connection); the others are planned at each run.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { rleArea, rleToBbox, toCompressed, type CompressedRle } from '../mask/rle.js';
import type { ObjectVersions } from './annotation-store.js';
import type { Db } from './postgres-pool.js';
import { maskFromRow, type MaskRow } from './postgres-rows.js';
import { checkVersions } from './postgres-versions.js';
import type { MaskInput, MaskRecord } from './session-store.js';

/** Rows per INSERT statement: big enough to amortize a round trip, small enough to bound one statement's memory. */
export const MASK_INSERT_CHUNK = 1000;

export function checkObjectId(id: number): void {
  if (!Number.isInteger(id) || id < 0) throw new CinesegError(ErrorCode.E_PROMPT_INVALID, `object id must be a non-negative integer, got ${id}`);
}

const LOCK_SESSION = {
  name: 'cineseg_masks_lock_session',
  text: `UPDATE sessions s SET updated_at = $2 FROM clips c WHERE s.id = $1 AND c.id = s.clip_id
         RETURNING s.prompt_version, c.width, c.height, c.num_frames`,
};
const UPSERT_OBJECTS = {
  name: 'cineseg_masks_upsert_objects',
  text: `INSERT INTO objects (session_id, object_id, label, removed, version, created_at)
         SELECT $1, o, 'object', false, 1, $3 FROM unnest($2::int[]) AS o
         ON CONFLICT (session_id, object_id) DO UPDATE SET removed = false, version = objects.version + 1
         RETURNING object_id, version`,
};
const NEXT_IDS = {
  name: 'cineseg_masks_next_ids',
  text: "SELECT nextval(pg_get_serial_sequence('masks', 'id')) AS id FROM generate_series(1, $1)",
};
// Unnamed (planned at each run, against the table's size now): a named statement's generic plan,
// made while the table was small, would keep a sequential scan as it grows. The LATERAL lookup
// makes each (object, frame) one probe of masks_current.
const SUPERSEDE = `WITH old AS (
    SELECT x.id, u.id AS new_id FROM unnest($2::int[], $3::int[], $4::bigint[]) AS u(object_id, frame, id)
    CROSS JOIN LATERAL (SELECT id FROM masks WHERE session_id = $1 AND object_id = u.object_id AND frame = u.frame AND current) x
  )
  UPDATE masks m SET current = false, superseded_by = old.new_id FROM old WHERE m.id = old.id`;
const INSERT = {
  name: 'cineseg_masks_insert',
  text: `INSERT INTO masks (id, session_id, object_id, frame, height, width, counts, area, bbox_x, bbox_y, bbox_w, bbox_h,
                            score, prompt_version, origin, current, superseded_by, created_at)
         SELECT u.id, $1, u.object_id, u.frame, $2, $3, u.counts, u.area, u.bx, u.by, u.bw, u.bh, u.score, u.pv, u.origin, u.cur, u.sup, $4
         FROM unnest($5::bigint[], $6::int[], $7::int[], $8::text[], $9::int[], $10::int[], $11::int[], $12::int[], $13::int[],
                     $14::float8[], $15::int[], $16::text[], $17::bool[], $18::bigint[])
           AS u(id, object_id, frame, counts, area, bx, by, bw, bh, score, pv, origin, cur, sup)`,
};

/**
 * Writes masks in the transaction `db` is in (see the module comment); returns their records in
 * input order, as they stand after the write. Throws, with the caller rolling back, on an unknown
 * session, a bad mask or a version conflict.
 */
export async function putMasksIn(db: Db, sessionId: string, masks: readonly MaskInput[], ifVersions: ObjectVersions | undefined): Promise<MaskRecord[]> {
  const t = new Date();
  const locked = await db.query<{ prompt_version: number; width: number; height: number; num_frames: number }>(LOCK_SESSION, [sessionId, t]);
  const s = locked.rows[0];
  if (!s) throw new CinesegError(ErrorCode.E_SESSION_UNKNOWN, `no session "${sessionId}"`, { details: { sessionId } });
  const prepared = masks.map((m) => {
    checkObjectId(m.objectId);
    if (!Number.isInteger(m.frame) || m.frame < 0 || m.frame >= s.num_frames) {
      throw new CinesegError(ErrorCode.E_FRAME_OUT_OF_RANGE, `mask on frame ${m.frame}, the clip has ${s.num_frames} frames`, { details: { frame: m.frame } });
    }
    if (!m.rle || !Array.isArray(m.rle.size) || (typeof m.rle.counts !== 'string' && !Array.isArray(m.rle.counts))) {
      throw new CinesegError(ErrorCode.E_MASK_INVALID, `object ${m.objectId} frame ${m.frame}: mask is not COCO RLE`);
    }
    const rle: CompressedRle = toCompressed(m.rle);
    if (rle.size[0] !== s.height || rle.size[1] !== s.width) {
      throw new CinesegError(ErrorCode.E_MASK_INVALID, `mask is ${rle.size[1]}x${rle.size[0]}, the clip is ${s.width}x${s.height}`);
    }
    return { m, rle, area: rleArea(rle), bbox: rleToBbox(rle) };
  });

  // Sorted: a fixed lock order on the object rows (the session lock already orders writers).
  const objectIds = [...new Set(prepared.map((p) => p.m.objectId))].sort((a, b) => a - b);
  const up = await db.query<{ object_id: number; version: number }>(UPSERT_OBJECTS, [sessionId, objectIds, t]);
  checkVersions(sessionId, new Map(up.rows.map((r) => [r.object_id, r.version - 1])), ifVersions);

  const idRows = await db.query<{ id: number }>(NEXT_IDS, [prepared.length]);
  const ids = idRows.rows.map((r) => r.id).sort((a, b) => a - b);
  // Within the batch the later row of an (object, frame) supersedes the earlier one, as if each
  // had been written alone in turn; the first one of each supersedes the stored current row.
  const supersededBy: (number | null)[] = new Array(prepared.length).fill(null);
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  prepared.forEach((p, i) => {
    const key = `${p.m.objectId}:${p.m.frame}`;
    const prev = last.get(key);
    if (prev !== undefined) supersededBy[prev] = ids[i]!;
    else first.set(key, i);
    last.set(key, i);
  });
  const firsts = [...first.values()];
  await db.query(SUPERSEDE, [sessionId, firsts.map((i) => prepared[i]!.m.objectId), firsts.map((i) => prepared[i]!.m.frame), firsts.map((i) => ids[i]!)]);

  for (let start = 0; start < prepared.length; start += MASK_INSERT_CHUNK) {
    const chunk = prepared.slice(start, start + MASK_INSERT_CHUNK);
    const col = <T>(f: (p: (typeof prepared)[number], i: number) => T): T[] => chunk.map((p, j) => f(p, start + j));
    await db.query(INSERT, [
      sessionId,
      s.height,
      s.width,
      t,
      col((_, i) => ids[i]!),
      col((p) => p.m.objectId),
      col((p) => p.m.frame),
      col((p) => p.rle.counts),
      col((p) => p.area),
      col((p) => p.bbox[0]),
      col((p) => p.bbox[1]),
      col((p) => p.bbox[2]),
      col((p) => p.bbox[3]),
      col((p) => p.m.score ?? null),
      col((p) => p.m.promptVersion ?? s.prompt_version),
      col((p) => p.m.origin ?? 'propagate'),
      col((_, i) => supersededBy[i] === null),
      col((_, i) => supersededBy[i]),
    ]);
  }
  const createdAt = t.toISOString();
  return prepared.map((p, i) => ({
    id: ids[i]!,
    sessionId,
    objectId: p.m.objectId,
    frame: p.m.frame,
    rle: p.rle,
    area: p.area,
    bbox: p.bbox,
    score: p.m.score ?? null,
    promptVersion: p.m.promptVersion ?? s.prompt_version,
    origin: p.m.origin ?? 'propagate',
    current: supersededBy[i] === null,
    supersededBy: supersededBy[i] ?? null,
    createdAt,
  }));
}

const MASK_COLUMNS =
  'm.id, m.session_id, m.object_id, m.frame, m.height, m.width, m.counts, m.area, m.bbox_x, m.bbox_y, m.bbox_w, m.bbox_h, m.score, m.prompt_version, m.origin, m.current, m.superseded_by, m.created_at';

export async function getMaskIn(db: Db, sessionId: string, objectId: number, frame: number): Promise<MaskRecord | undefined> {
  const r = await db.query<MaskRow>(`SELECT ${MASK_COLUMNS} FROM masks m WHERE m.session_id = $1 AND m.object_id = $2 AND m.frame = $3 AND m.current`, [sessionId, objectId, frame]);
  return r.rows[0] ? maskFromRow(r.rows[0]) : undefined;
}

export async function currentMasksIn(db: Db, sessionId: string, opts: { objectId?: number; includeRemoved?: boolean }): Promise<MaskRecord[]> {
  const args: unknown[] = [sessionId];
  let sql = `SELECT ${MASK_COLUMNS} FROM masks m JOIN objects o ON o.session_id = m.session_id AND o.object_id = m.object_id WHERE m.session_id = $1 AND m.current`;
  if (!opts.includeRemoved) sql += ' AND NOT o.removed';
  if (opts.objectId !== undefined) {
    args.push(opts.objectId);
    sql += ` AND m.object_id = $${args.length}`;
  }
  sql += ' ORDER BY m.object_id, m.frame';
  return (await db.query<MaskRow>(sql, args)).rows.map(maskFromRow);
}

export async function maskHistoryIn(db: Db, sessionId: string, objectId: number, frame: number): Promise<MaskRecord[]> {
  const r = await db.query<MaskRow>(`SELECT ${MASK_COLUMNS} FROM masks m WHERE m.session_id = $1 AND m.object_id = $2 AND m.frame = $3 ORDER BY m.id`, [sessionId, objectId, frame]);
  return r.rows.map(maskFromRow);
}

/** Frames where every live object has a current mask: counted from the current-masks index alone. */
export async function completeFramesIn(db: Db, sessionId: string): Promise<number[]> {
  const r = await db.query<{ frame: number }>(
    `WITH live AS (SELECT object_id FROM objects WHERE session_id = $1 AND NOT removed)
     SELECT m.frame FROM masks m JOIN live USING (object_id)
     WHERE m.session_id = $1 AND m.current
     GROUP BY m.frame HAVING COUNT(*) = (SELECT COUNT(*) FROM live) ORDER BY m.frame`,
    [sessionId],
  );
  return r.rows.map((x) => x.frame);
}
