/**
 * The live pictures, kept with the masks so a procedure can be reviewed afterwards
 * (`serve --live-record-pictures`): each tracked frame's JPEG — the one already encoded for the
 * viewers, so storing costs a file write, not an encode — goes to `<dir>/<record id>/<frame>.jpg`,
 * and the folder is kept under `maxBytes` by deleting the oldest pictures first (over all records;
 * a record left with none is removed).
 *
 * Disk cost: a 480x360 endoscopy frame at mjpeg q 5 is ≈ 15–25 kB, so 30 fps is ≈ 0.5–0.75 MB/s,
 * ≈ 2–3 GB per hour of procedure; a 1280x720 source about 3x that. The default bound
 * (DEFAULT_LIVE_PICTURES_MAX_BYTES, 2 GiB) holds the last hour or so of a 480p source.
 *
 * Writes never hold up the live view: they run one at a time in the background, and a picture that
 * comes while more than MAX_PENDING are waiting (a slow disk) is skipped and counted. A failed write
 * is logged once per error kind and counted; the view goes on.
 *
 * File names are the frame index zero-padded, so a folder listing is in frame order and
 * `GET /api/live-records/<id>/frames/<n>.jpg` maps to one path with no user text in it.
 */
import { copyFile, mkdir, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';

/** Default bound of the picture folder: 2 GiB. */
export const DEFAULT_LIVE_PICTURES_MAX_BYTES = 2 * 1024 ** 3;
/** Pictures waiting to be written beyond which new ones are skipped. */
const MAX_PENDING = 64;
/** Record ids are the pipeline's UUIDs; anything else is refused before it becomes a path. */
const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

interface Stored {
  recordId: string;
  frame: number;
  bytes: number;
}

export interface LivePictureStoreOptions {
  /** The folder (created when missing). */
  dir: string;
  /** Bound of the folder's pictures, bytes (default DEFAULT_LIVE_PICTURES_MAX_BYTES). */
  maxBytes?: number;
  log?: (line: string) => void;
}

export function pictureName(frame: number): string {
  return `${String(frame).padStart(9, '0')}.jpg`;
}

export class LivePictureStore {
  readonly dir: string;
  readonly maxBytes: number;
  /** Every stored picture, oldest first (write order). */
  private readonly order: Stored[] = [];
  private readonly byRecord = new Map<string, Set<number>>();
  private totalBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private lastError = '';
  private ready: Promise<void>;
  /** Pictures written, skipped (queue full), failed and pruned so far. */
  readonly counts = { written: 0, skipped: 0, failed: 0, pruned: 0 };

  constructor(private readonly opts: LivePictureStoreOptions) {
    this.dir = opts.dir;
    this.maxBytes = Math.max(1, opts.maxBytes ?? DEFAULT_LIVE_PICTURES_MAX_BYTES);
    this.ready = this.scan();
    this.chain = this.ready.catch(() => undefined);
  }

  /** Bytes the stored pictures take now. */
  get bytes(): number {
    return this.totalBytes;
  }

  /**
   * Queues a picture (kept as given: the caller must not reuse `jpeg`'s memory — the pipeline's
   * JPEGs are fresh per frame). Returns false when it was skipped (queue full).
   */
  put(recordId: string, frame: number, jpeg: Uint8Array): boolean {
    if (!RECORD_ID.test(recordId) || !Number.isInteger(frame) || frame < 0 || jpeg.length === 0) return false;
    if (this.pending >= MAX_PENDING) {
      this.counts.skipped++;
      return false;
    }
    this.pending++;
    this.chain = this.chain.then(() => this.write(recordId, frame, jpeg)).finally(() => this.pending--);
    return true;
  }

  /** Resolves once every queued picture is written (tests, shutdown). */
  async flush(): Promise<void> {
    await this.ready.catch(() => undefined);
    await this.chain;
  }

  /** The frames of a record that are stored, ascending. */
  async frames(recordId: string): Promise<number[]> {
    await this.ready.catch(() => undefined);
    return [...(this.byRecord.get(recordId) ?? [])].sort((a, b) => a - b);
  }

  /** The ids of the records with stored pictures. */
  async records(): Promise<string[]> {
    await this.ready.catch(() => undefined);
    return [...this.byRecord.keys()];
  }

  /**
   * The file of one stored picture.
   * @throws CinesegError E_INPUT_NOT_FOUND when the record or frame has no stored picture
   */
  async path(recordId: string, frame: number): Promise<string> {
    await this.ready.catch(() => undefined);
    if (!RECORD_ID.test(recordId) || !this.byRecord.get(recordId)?.has(frame)) {
      throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `no stored live picture for frame ${frame} of record ${recordId}`);
    }
    return join(this.dir, recordId, pictureName(frame));
  }

  /**
   * Copies a record's stored pictures (optionally only frames `range[0]..range[1]`) into `outDir`
   * as `<frame>.jpg` (the same zero-padded names), beside an export of its masks: the frame numbers
   * are the masks' frame indices. Resolves with the frames copied.
   */
  async exportTo(recordId: string, outDir: string, range?: readonly [number, number]): Promise<number[]> {
    await this.flush();
    const frames = (await this.frames(recordId)).filter((f) => !range || (f >= range[0] && f <= range[1]));
    await mkdir(outDir, { recursive: true });
    const done: number[] = [];
    for (const f of frames) {
      // A picture pruned meanwhile is left out.
      const ok = await copyFile(join(this.dir, recordId, pictureName(f)), join(outDir, pictureName(f))).then(
        () => true,
        () => false,
      );
      if (ok) done.push(f);
    }
    return done;
  }

  private async write(recordId: string, frame: number, jpeg: Uint8Array): Promise<void> {
    try {
      const folder = join(this.dir, recordId);
      let frames = this.byRecord.get(recordId);
      if (!frames) {
        await mkdir(folder, { recursive: true });
        this.byRecord.set(recordId, (frames = new Set()));
      }
      await writeFile(join(folder, pictureName(frame)), jpeg);
      if (frames.has(frame)) {
        // The same frame again (a restart numbering from 0 into the same record cannot happen, but
        // a caller may resend): the old entry's bytes are replaced.
        const i = this.order.findIndex((s) => s.recordId === recordId && s.frame === frame);
        if (i >= 0) this.totalBytes -= this.order.splice(i, 1)[0]!.bytes;
      }
      frames.add(frame);
      this.order.push({ recordId, frame, bytes: jpeg.length });
      this.totalBytes += jpeg.length;
      this.counts.written++;
      await this.prune();
    } catch (e) {
      this.counts.failed++;
      const line = (e as Error).message;
      if (line !== this.lastError) {
        this.lastError = line;
        this.opts.log?.(`live pictures: writing frame ${frame} failed (${this.counts.failed} failed in all): ${line}`);
      }
    }
  }

  /** Oldest first until the bound holds; the newest picture always stays. */
  private async prune(): Promise<void> {
    while (this.totalBytes > this.maxBytes && this.order.length > 1) {
      const old = this.order.shift()!;
      this.totalBytes -= old.bytes;
      this.counts.pruned++;
      const set = this.byRecord.get(old.recordId);
      set?.delete(old.frame);
      await unlink(join(this.dir, old.recordId, pictureName(old.frame))).catch(() => undefined);
      if (set && set.size === 0) {
        this.byRecord.delete(old.recordId);
        await rm(join(this.dir, old.recordId), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }

  /**
   * What an earlier run left in the folder counts against the bound: its pictures are taken in,
   * oldest (by modification time) first, and pruned like new ones.
   */
  private async scan(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const found: (Stored & { mtimeMs: number })[] = [];
    for (const rec of await readdir(this.dir, { withFileTypes: true })) {
      if (!rec.isDirectory() || !RECORD_ID.test(rec.name)) continue;
      for (const f of await readdir(join(this.dir, rec.name))) {
        const m = /^(\d{9})\.jpg$/.exec(f);
        if (!m) continue;
        const st = await stat(join(this.dir, rec.name, f)).catch(() => null);
        if (st?.isFile()) found.push({ recordId: rec.name, frame: Number(m[1]), bytes: st.size, mtimeMs: st.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.recordId === b.recordId ? a.frame - b.frame : 0));
    for (const s of found) {
      let set = this.byRecord.get(s.recordId);
      if (!set) this.byRecord.set(s.recordId, (set = new Set()));
      set.add(s.frame);
      this.order.push({ recordId: s.recordId, frame: s.frame, bytes: s.bytes });
      this.totalBytes += s.bytes;
    }
    await this.prune();
  }
}
