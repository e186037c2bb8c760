/**
 * HLS for recorded clips, made once per clip content and cached under
 * `<cacheDir>/<sha256 of the file>/`: copied when the video is already H.264 (cheap, exact
 * frames), transcoded otherwise. A finished package is renamed into place atomically, so a crash
 * mid-packaging never leaves a half playlist that a later run would serve.
 *
 * Hashing a long clip and packaging it take seconds to minutes; a session does not wait for them
 * (it decodes frames itself). `prepare` starts both in the background when a session opens and
 * reports progress (recorded-session.ts turns it into `clipProgress` messages).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { packageHls } from '../decode/ffmpeg.js';
import { probe } from '../decode/probe.js';
import { stageVolumeInput, volumeContentHash } from '../source/volume-source.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';

/** sha256 hex of a file's bytes, streamed; `onBytes` gets the bytes read so far after each chunk. */
export function hashFileSha256(path: string, onBytes?: (read: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let read = 0;
    createReadStream(path)
      .on('data', (b) => {
        h.update(b);
        read += b.length;
        onBytes?.(read);
      })
      .on('error', (e) => reject(new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `cannot read ${path}: ${e.message}`, { cause: e })))
      .on('end', () => resolve(h.digest('hex')));
  });
}

export interface HlsPackage {
  /** Folder holding index.m3u8 and the segments. */
  dir: string;
  hash: string;
  /** True when this call found the package already made. */
  cacheHit: boolean;
  copied: boolean;
}

/** Where making a clip's package stands (see `HlsCache.prepare`). */
export interface HlsProgress {
  stage: 'hash' | 'package' | 'ready' | 'failed';
  /** Fraction of the stage done, or null when unknown (ffmpeg's packaging). */
  fraction: number | null;
  code?: string;
}

/** Progress reports of one file are at most this often (a fast disk reads 64 KiB chunks by the thousand). */
const PROGRESS_INTERVAL_MS = 250;

export class HlsCache {
  private readonly pending = new Map<string, Promise<HlsPackage>>();
  private readonly listeners = new Map<string, Set<(p: HlsProgress) => void>>();
  private readonly lastReport = new Map<string, number>();
  private readonly hashes = new Map<string, Promise<string>>();
  private readonly abort = new AbortController();
  /** How many packages this cache has made (tests check a second request makes none). */
  packagesMade = 0;

  constructor(readonly cacheDir: string) {}

  /** The HLS package of `file`, made now if no earlier run made it. Concurrent calls share one ffmpeg. */
  async ensure(file: string): Promise<HlsPackage> {
    let hp = this.hashes.get(file);
    if (!hp) {
      hp = this.hash(file);
      this.hashes.set(file, hp);
      // A failed hash (file gone) is tried again by the next request, not remembered.
      hp.catch(() => this.hashes.delete(file));
    }
    const hash = await hp;
    const dir = join(this.cacheDir, hash);
    if (await exists(join(dir, 'index.m3u8'))) return { dir, hash, cacheHit: true, copied: false };
    let p = this.pending.get(hash);
    if (!p) {
      this.report(file, { stage: 'package', fraction: null }, true);
      p = this.make(file, hash, dir).finally(() => this.pending.delete(hash));
      this.pending.set(hash, p);
    }
    return p;
  }

  /**
   * Starts making `file`'s package in the background (hash, then packaging unless cached) and
   * reports its progress to `onProgress` until `ready` or `failed`. Returns the unsubscribe.
   * Never rejects: a failure is reported, and the playlist request that needs it gets the error.
   */
  prepare(file: string, onProgress: (p: HlsProgress) => void): () => void {
    let set = this.listeners.get(file);
    if (!set) this.listeners.set(file, (set = new Set()));
    set.add(onProgress);
    const off = () => {
      const s = this.listeners.get(file);
      s?.delete(onProgress);
      if (s?.size === 0) this.listeners.delete(file);
    };
    this.ensure(file).then(
      () => {
        if (this.listeners.get(file)?.has(onProgress)) onProgress({ stage: 'ready', fraction: 1 });
        off();
      },
      (e: unknown) => {
        if (this.listeners.get(file)?.has(onProgress)) onProgress({ stage: 'failed', fraction: null, code: toCinesegError(e).code });
        off();
      },
    );
    return off;
  }

  private async hash(file: string): Promise<string> {
    // A volume (`scan.nii.gz#coronal`, a DICOM folder) is named by its bytes, plane and window.
    const volumeHash = await volumeContentHash(file);
    if (volumeHash) return volumeHash;
    const size = (await stat(file).catch(() => null))?.size ?? 0;
    this.report(file, { stage: 'hash', fraction: 0 }, true);
    return hashFileSha256(file, (read) => this.report(file, { stage: 'hash', fraction: size > 0 ? Math.min(1, read / size) : null }, false));
  }

  private report(file: string, p: HlsProgress, force: boolean): void {
    const set = this.listeners.get(file);
    if (!set?.size) return;
    const now = Date.now();
    if (!force && now - (this.lastReport.get(file) ?? 0) < PROGRESS_INTERVAL_MS) return;
    this.lastReport.set(file, now);
    for (const l of [...set]) l(p);
  }

  private async make(file: string, hash: string, dir: string): Promise<HlsPackage> {
    const info = await probe(file);
    const copy = /^(h264|avc1?)$/i.test(info.codec ?? '');
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    // A volume's windowed slices are staged as raw gray video and encoded to H.264 like any clip.
    const volume = await stageVolumeInput(file);
    try {
      await packageHls(file, tmp, { copy, gop: Math.max(1, Math.round(info.fps || 30)), signal: this.abort.signal, ...(volume ? { inputArgs: volume.args } : {}) });
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      this.packagesMade++;
      return { dir, hash, cacheHit: false, copied: copy };
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw new CinesegError(ErrorCode.E_HLS_FAILED, `HLS packaging of ${file} failed: ${toCinesegError(e).message}`, { cause: e });
    } finally {
      await volume?.release();
    }
  }

  /** Kills packaging still running (its temporary folder is removed). */
  destroy(): void {
    this.abort.abort();
    this.pending.clear();
    this.hashes.clear();
    this.listeners.clear();
    this.lastReport.clear();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
