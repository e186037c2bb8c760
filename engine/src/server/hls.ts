/**
 * HLS for recorded clips, made once per clip content and cached under
 * `<cacheDir>/<sha256 of the file>/`: copied when the video is already H.264 (cheap, exact
 * frames), transcoded otherwise. A finished package is renamed into place atomically, so a crash
 * mid-packaging never leaves a half playlist that a later run would serve.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packageHls } from '../decode/ffmpeg.js';
import { probe } from '../decode/probe.js';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';

/** sha256 hex of a file's bytes, streamed. */
export function hashFileSha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (b) => h.update(b))
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

export class HlsCache {
  private readonly pending = new Map<string, Promise<HlsPackage>>();
  private readonly hashes = new Map<string, Promise<string>>();
  private readonly abort = new AbortController();
  /** How many packages this cache has made (tests check a second request makes none). */
  packagesMade = 0;

  constructor(readonly cacheDir: string) {}

  /** The HLS package of `file`, made now if no earlier run made it. Concurrent calls share one ffmpeg. */
  async ensure(file: string): Promise<HlsPackage> {
    let hp = this.hashes.get(file);
    if (!hp) this.hashes.set(file, (hp = hashFileSha256(file)));
    const hash = await hp;
    const dir = join(this.cacheDir, hash);
    if (await exists(join(dir, 'index.m3u8'))) return { dir, hash, cacheHit: true, copied: false };
    let p = this.pending.get(hash);
    if (!p) {
      p = this.make(file, hash, dir).finally(() => this.pending.delete(hash));
      this.pending.set(hash, p);
    }
    return p;
  }

  private async make(file: string, hash: string, dir: string): Promise<HlsPackage> {
    const info = await probe(file);
    const copy = /^(h264|avc1?)$/i.test(info.codec ?? '');
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    try {
      await packageHls(file, tmp, { copy, gop: Math.max(1, Math.round(info.fps || 30)), signal: this.abort.signal });
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      this.packagesMade++;
      return { dir, hash, cacheHit: false, copied: copy };
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw new CinesegError(ErrorCode.E_HLS_FAILED, `HLS packaging of ${file} failed: ${toCinesegError(e).message}`, { cause: e });
    }
  }

  /** Kills packaging still running (its temporary folder is removed). */
  destroy(): void {
    this.abort.abort();
    this.pending.clear();
    this.hashes.clear();
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
