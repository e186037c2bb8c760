/**
 * Turns what a user typed (a path, a folder of images, a URL, `-`) into the ffmpeg input arguments
 * that read it, after the checks that give clear errors before any child is started.
 */
import { mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CinesegError, ErrorCode } from '../errors.js';
import { isDicomFile, stageDicomCine } from './dicom-cine-source.js';
import type { InputKind, ResolvedInput } from './resolved-input.js';
import { stageVolumeInput } from './volume-source.js';

export type { InputKind, ResolvedInput } from './resolved-input.js';

/** URL schemes ffmpeg can read as live streams. */
const LIVE_SCHEMES = new Set(['rtsp', 'rtsps', 'rtmp', 'rtmps', 'srt', 'udp', 'tcp', 'rtp', 'http', 'https', 'mms', 'rist']);

const IMAGE_EXTS: Record<string, string> = { '.png': 'png', '.jpg': 'jpg', '.jpeg': 'jpg' };

/** Default frame rate given to an image folder, which carries no timing of its own. */
export const DEFAULT_IMAGE_FPS = 30;

/** Classifies an input string without touching the file system. */
export function classifyInput(input: string): InputKind | 'path' {
  if (input === '-' || input === 'pipe:0' || input === 'pipe:') return 'stdin';
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(input);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'file') return 'path';
    if (LIVE_SCHEMES.has(scheme)) return 'live-url';
    throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `unsupported URL scheme "${scheme}://" (use a file, a folder of images, ${[...LIVE_SCHEMES].join('/')} or -)`);
  }
  return 'path';
}

const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Image file names in `dir`, ordered the way a person numbers frames (frame2 before frame10). */
export async function listImageSequence(dir: string): Promise<string[]> {
  const names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() && IMAGE_EXTS[extname(d.name).toLowerCase()] !== undefined).map((d) => d.name);
  return names.sort(natural.compare);
}

/**
 * Checks an input and builds its ffmpeg arguments. Files must exist and be non-empty; a folder
 * must hold png or jpg images of one kind. Folders are exposed to ffmpeg's image2 demuxer through
 * a temporary directory of numbered symlinks, because image2's own glob order is lexical
 * (frame10 before frame2) and its numbered pattern needs names the user may not have.
 */
export async function resolveInput(input: string, opts: { imageFps?: number } = {}): Promise<ResolvedInput> {
  const kind = classifyInput(input);
  const noop = async (): Promise<void> => {};
  if (kind === 'stdin') return { input, kind, args: ['-i', 'pipe:0'], readsStdin: true, release: noop };
  if (kind === 'live-url') return { input, kind, args: ['-i', input], readsStdin: false, release: noop };
  // A NIfTI file or DICOM series folder (optionally `#plane[:window]`) is staged as gray slices.
  const volume = await stageVolumeInput(input);
  if (volume) return volume;
  const path = input.startsWith('file://') ? fileURLToPath(input) : resolvePath(input);
  let st;
  try {
    st = await stat(path);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `input not found: ${input}`, { cause });
  }
  if (st.isDirectory()) return resolveImageFolder(input, path, opts.imageFps ?? DEFAULT_IMAGE_FPS);
  if (!st.isFile()) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `not a regular file or folder: ${input}`);
  if (st.size === 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `input is empty (0 bytes): ${input}`);
  // A DICOM cine is staged as raw or motion-JPEG frames ffmpeg can read (dicom-cine-source.ts).
  if (await isDicomFile(path)) return stageDicomCine(input, path);
  // `file:` keeps ffmpeg from reading a name like "a:b.mp4" as a protocol.
  return { input, kind: 'file', args: ['-i', `file:${path}`], readsStdin: false, sizeBytes: st.size, release: noop };
}

async function resolveImageFolder(input: string, dir: string, fps: number): Promise<ResolvedInput> {
  if (!(fps > 0) || !Number.isFinite(fps)) throw new CinesegError(ErrorCode.E_USAGE, `image folder fps must be a positive number, got ${fps}`);
  const files = await listImageSequence(dir);
  if (files.length === 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `no .png/.jpg images in folder: ${input}`);
  const kinds = new Set(files.map((f) => IMAGE_EXTS[extname(f).toLowerCase()]));
  if (kinds.size > 1) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `folder mixes png and jpg images; use one kind: ${input}`);
  const ext = [...kinds][0]!;
  const staged = await mkdtemp(join(tmpdir(), 'cineseg-seq-'));
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await rm(staged, { recursive: true, force: true });
  };
  try {
    await Promise.all(files.map((f, i) => symlink(join(dir, f), join(staged, `${String(i).padStart(6, '0')}.${ext}`))));
  } catch (cause) {
    await release();
    throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `could not stage image folder ${input}: ${(cause as Error).message}`, { cause });
  }
  return {
    input,
    kind: 'image-folder',
    args: ['-f', 'image2', '-framerate', String(fps), '-start_number', '0', '-i', join(staged, `%06d.${ext}`)],
    readsStdin: false,
    images: { files, fps },
    release,
  };
}
