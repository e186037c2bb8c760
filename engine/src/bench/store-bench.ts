/**
 * Store insert bench: how fast masks go into each backend, and what a mask row costs on disk.
 * `postgresMaskInsertsPerSecond` (issue 18) is the insert rate of masks into a throwaway
 * PostgreSQL cluster on this machine (bench/local-postgres.ts, fsync on), SQLite's beside it.
 *
 * Masks are of realistic size: COCO RLE of a ~100 x 80 blob with a wobbly edge in a 512 x 512
 * frame (the counts run to some 150-250 bytes), two objects per frame. Two batch shapes:
 * - one frame x 2 objects per putMasks: an interactive session, a commit per frame;
 * - 64 masks per putMasks: propagation through MaskWriter, or a worker writing a clip.
 * Each putMasks is one transaction that resolves after COMMIT (the durability contract), so the
 * small batch measures commits per second (an fsync each), the large one rows per second.
 * Bytes per mask: pg_total_relation_size('masks') (heap, TOAST and both indexes) / rows; for
 * SQLite the file's pages after a checkpoint / rows (the masks table dominates it).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { encodeMaskCompressed, type CompressedRle } from '../mask/rle.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { PostgresStore } from '../store/postgres-store.js';
import type { MaskInput } from '../store/session-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { startPostgres } from './local-postgres.js';

const SIZE = 512;

/** A blob of about 100 x 80 px at a seeded place, its edge wobbling a few pixels. */
function blob(seed: number): CompressedRle {
  let s = seed >>> 0 || 1;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const m = new Uint8Array(SIZE * SIZE);
  const cx = 80 + rand() * (SIZE - 160);
  const cy = 60 + rand() * (SIZE - 120);
  const phase = rand() * Math.PI * 2;
  for (let y = Math.floor(cy - 50); y < cy + 50; y++) {
    for (let x = Math.floor(cx - 60); x < cx + 60; x++) {
      const a = Math.atan2(y - cy, x - cx);
      const r = 1 + 0.06 * Math.sin(5 * a + phase) + 0.03 * Math.sin(11 * a);
      if (((x - cx) / 50) ** 2 + ((y - cy) / 40) ** 2 <= r * r) m[y * SIZE + x] = 1;
    }
  }
  return encodeMaskCompressed(m, SIZE, SIZE);
}

interface RunResult {
  perSecond: number;
  masks: number;
  seconds: number;
}

async function insertRun(store: AnnotationStore, frames: number, batch: number, masks: CompressedRle[]): Promise<RunResult> {
  const clip = await store.upsertClip({ path: `/bench/${batch}.mp4`, contentHash: `${batch}`.padStart(64, '0'), width: SIZE, height: SIZE, numFrames: frames, fps: 30 });
  const session = await store.createSession(clip.id);
  const all: MaskInput[] = [];
  for (let f = 0; f < frames; f++) for (const objectId of [1, 2]) all.push({ objectId, frame: f, rle: masks[(f * 2 + objectId) % masks.length]!, score: 0.97 });
  const t0 = performance.now();
  for (let i = 0; i < all.length; i += batch) await store.putMasks(session.id, all.slice(i, i + batch));
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: all.length / seconds, masks: all.length, seconds };
}

export interface StoreBenchOptions {
  quick?: boolean;
  log?: (line: string) => void;
}

export async function benchStoreInserts(opts: StoreBenchOptions = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? (() => undefined);
  // Frames per run: the small batch commits once per frame (2 masks), so it gets fewer.
  const smallFrames = opts.quick ? 150 : 600;
  const largeFrames = opts.quick ? 1600 : 6400;
  const masks = Array.from({ length: 64 }, (_, i) => blob(i + 1));
  const rleBytes = masks.reduce((a, m) => a + m.counts.length, 0) / masks.length;
  log(`store bench: masks of ${rleBytes.toFixed(0)} bytes of RLE counts on average (512 x 512 frame, ~100 x 80 blob)`);
  const out: Record<string, unknown> = { maskRleBytes: Math.round(rleBytes) };

  const dir = mkdtempSync(join(tmpdir(), 'cineseg-store-bench-'));
  const pgc = await startPostgres();
  try {
    for (const kind of ['sqlite', 'postgres'] as const) {
      const store: AnnotationStore = kind === 'postgres' ? await PostgresStore.open(pgc.url) : await SqliteStore.open(join(dir, 'bench.db'));
      try {
        const small = await insertRun(store, smallFrames, 2, masks);
        const large = await insertRun(store, largeFrames, 64, masks);
        log(`store bench ${kind}: ${small.perSecond.toFixed(0)} masks/s in batches of 2 (one frame, 2 objects), ${large.perSecond.toFixed(0)} masks/s in batches of 64`);
        const rows = small.masks + large.masks;
        let bytes: number;
        if (kind === 'postgres') {
          const c = new pg.Client({ connectionString: pgc.url });
          await c.connect();
          try {
            await c.query('VACUUM ANALYZE masks');
            bytes = Number((await c.query<{ n: string }>("SELECT pg_total_relation_size('masks') AS n")).rows[0]!.n);
          } finally {
            await c.end();
          }
        } else {
          (store as SqliteStore).sync.checkpoint();
          bytes = statSync(join(dir, 'bench.db')).size;
        }
        const prefix = kind === 'postgres' ? 'postgres' : 'sqlite';
        out[`${prefix}MaskInsertsPerSecond`] = Math.round(large.perSecond);
        out[`${prefix}MaskInsertsPerSecondBatch2`] = Math.round(small.perSecond);
        out[`${prefix}MaskInsertsPerSecondBatch64`] = Math.round(large.perSecond);
        out[`${prefix}BytesPerMask`] = Math.round(bytes / rows);
        log(`store bench ${kind}: ${(bytes / rows).toFixed(0)} bytes per mask row (${kind === 'postgres' ? 'table + TOAST + indexes' : 'whole file'}, ${rows} rows)`);
      } finally {
        await store.destroy();
      }
    }
  } finally {
    await pgc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
