/**
 * The clips a server offers: video files found under the media folders (two levels deep), each
 * with a stable id `<media folder name>/<path without extension>` (a `clip.mp4` is named after
 * its folder, as in samples/generated/<clip>/clip.mp4).
 *
 * Volumes (NIfTI files that are not label volumes, DICOM series folders) are clips of slices: the
 * listed id ends `#axial`, and `get()` also takes `#coronal` / `#sagittal`, with an optional
 * `:<window>` (`ct-1/ct#coronal:lung`); the clip's `path` is then the volume input string
 * (source/volume.ts) that decoders, probes and HLS packaging open.
 *
 * A media folder is a jail: clips are looked up by id in what the scan found (a client never
 * names a path), symlinks are followed only when their target stays inside the folder's realpath,
 * and `get()` checks the realpath again, so a file swapped for an outward symlink after the scan
 * is refused too.
 */
import { readFileSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { probe, type VideoInfo } from '../decode/probe.js';
import { CinesegError, ErrorCode } from '../errors.js';
import type { ClipInfo } from '../protocol.js';
import { checkedRealpath, isInside } from './path-jail.js';
import { openVolumeInput, PLANES, windowsFor } from '../source/volume-slices.js';
import { isDicomSeriesFolder, isNiftiName } from '../source/volume.js';

const VIDEO_EXTS = new Set(['.mp4', '.mov', '.mkv', '.webm', '.avi', '.m4v']);
const MAX_DEPTH = 3;

export interface CatalogClip {
  id: string;
  name: string;
  path: string;
  /** Realpath of the media folder the clip was found in. */
  rootReal: string;
  /** Volumes: the NIfTI file or DICOM folder; `path` is then `<file>#<plane>[:<window>]`. */
  volumeFile?: string;
}

export class ClipCatalog {
  private clips: Map<string, CatalogClip> | null = null;
  private readonly infos = new Map<string, Promise<VideoInfo>>();

  constructor(readonly mediaDirs: readonly string[]) {}

  /** Rescans the media folders (cheap: names only). */
  async scan(): Promise<CatalogClip[]> {
    const found = new Map<string, CatalogClip>();
    for (const d of this.mediaDirs) {
      const root = resolve(d);
      const rootReal = await realpath(root).catch(() => null);
      if (rootReal === null) continue;
      const files: string[] = [];
      await walk(root, rootReal, 0, files);
      for (const f of files.sort()) {
        if (isNiftiName(f) || f.endsWith(sep)) {
          const file = f.endsWith(sep) ? f.slice(0, -1) : f;
          const rel = relative(root, file)
            .replace(/\.nii(\.gz)?$/i, '')
            .split(sep)
            .join('/');
          const id = `${basename(root)}/${rel}#axial`;
          if (!found.has(id)) found.set(id, { id, name: `${rel} (axial)`, path: `${file}#axial`, rootReal, volumeFile: file });
          continue;
        }
        let rel = relative(root, f).slice(0, -extname(f).length).split(sep).join('/');
        if (basename(rel) === 'clip' && rel.includes('/')) rel = rel.slice(0, rel.lastIndexOf('/'));
        const id = `${basename(root)}/${rel}`;
        if (!found.has(id)) found.set(id, { id, name: rel, path: f, rootReal });
      }
    }
    this.clips = found;
    return [...found.values()];
  }

  /**
   * The clip with this id, its path being the file's checked realpath.
   * @throws CinesegError E_CLIP_UNKNOWN, E_PATH_FORBIDDEN (the file now resolves outside its folder)
   */
  async get(id: string): Promise<CatalogClip> {
    const view = /^(.*)#([a-z]+)(?::([^#]+))?$/.exec(id);
    if (view && (PLANES as readonly string[]).includes(view[2]!) && (view[2] !== 'axial' || view[3] !== undefined)) {
      // Another plane or a window of a listed volume: same file, same jail check.
      const base = await this.get(`${view[1]}#axial`);
      if (base.volumeFile) return { ...base, id, path: `${base.volumeFile}#${view[2]}${view[3] ? `:${view[3]}` : ''}` };
    }
    if (!this.clips?.has(id)) await this.scan();
    const c = this.clips!.get(id);
    // The id is echoed only when short: it is client input and ends up in logs and replies.
    if (!c) throw new CinesegError(ErrorCode.E_CLIP_UNKNOWN, `no clip ${id.length <= 200 ? JSON.stringify(id) : `(id of ${id.length} characters)`} (see GET /api/clips)`);
    const real = await checkedRealpath(c.rootReal, c.volumeFile ?? c.path);
    if (real === null) throw new CinesegError(ErrorCode.E_CLIP_UNKNOWN, `clip "${id}" is gone from its media folder`);
    if (c.volumeFile) return { ...c, volumeFile: real, path: `${real}#axial` };
    return { ...c, path: real };
  }

  /** Probe facts of a clip (cached). */
  info(clip: CatalogClip): Promise<VideoInfo> {
    let p = this.infos.get(clip.path);
    if (!p) {
      p = probe(clip.path);
      p.catch(() => this.infos.delete(clip.path));
      this.infos.set(clip.path, p);
    }
    return p;
  }

  /** Every clip with its size and length, for the player's list; clips that fail to probe are left out. */
  async list(): Promise<ClipInfo[]> {
    const out: ClipInfo[] = [];
    for (const c of await this.scan()) {
      try {
        const i = await this.info(c);
        const info: ClipInfo = { id: c.id, name: c.name, width: i.width, height: i.height, fps: i.fps, frames: i.frameCount ?? 0, hlsUrl: `/hls/${encodeURIComponent(c.id)}/index.m3u8` };
        const vol = c.volumeFile ? openVolumeInput(c.path) : null;
        if (vol) {
          const windows = vol.volume.modality === 'CT' ? { windows: windowsFor(vol.volume) } : {};
          info.volume = { planes: [...PLANES], plane: vol.view.plane, spacingMm: vol.view.spacingMm, modality: vol.volume.modality, ...windows };
        }
        out.push(info);
      } catch {
        // A broken file in a media folder should not hide the others.
      }
    }
    return out;
  }
}

async function walk(dir: string, rootReal: string, depth: number, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      // Followed only inside the folder: a link to /etc or to another user's files is not a clip.
      const real = await realpath(p).catch(() => null);
      if (real === null || !isInside(rootReal, real)) continue;
      const st = await stat(real).catch(() => null);
      isDir = st?.isDirectory() ?? false;
      isFile = st?.isFile() ?? false;
    }
    // A DICOM series folder is one clip (marked by a trailing separator), not a folder to search.
    if (isDir && isDicomSeriesFolder(p)) out.push(`${p}${sep}`);
    else if (isDir && depth < MAX_DEPTH - 1) await walk(p, rootReal, depth + 1, out);
    else if (isFile && VIDEO_EXTS.has(extname(e.name).toLowerCase())) out.push(p);
    else if (isFile && isNiftiName(e.name) && !isLabelVolume(p)) out.push(p);
  }
}

/** NIfTI intent_code NIFTI_INTENT_LABEL (1002): a label volume is masks, not a scan to show. */
function isLabelVolume(p: string): boolean {
  try {
    const raw = readFileSync(p);
    const buf = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
    return buf.length >= 72 && (buf.readInt16LE(68) === 1002 || buf.readInt16BE(68) === 1002);
  } catch {
    return true;
  }
}

/**
 * A volume clip's id with the plane and window startSession asked for (`ct.nii.gz#axial` +
 * coronal, lung → `ct.nii.gz#coronal:lung`; ClipCatalog.get reads it). Other clips are left as they
 * are: the catalog refuses a suffix on a video with E_CLIP_UNKNOWN.
 */
export function volumeViewId(clip: string, plane: string | undefined, window: string | undefined): string {
  if (plane === undefined && window === undefined) return clip;
  const at = clip.lastIndexOf('#');
  const base = at >= 0 ? clip.slice(0, at) : clip;
  const [ownPlane, ownWindow] = at >= 0 ? clip.slice(at + 1).split(':') : [];
  const w = window ?? ownWindow;
  return `${base}#${plane ?? ownPlane ?? 'axial'}${w ? `:${w}` : ''}`;
}
