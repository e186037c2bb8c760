/**
 * A volume input staged for ffmpeg, as a DICOM cine is (dicom-cine-source.ts): the windowed
 * slices of the chosen plane written one after another as raw 8-bit gray to a temporary file,
 * read back with `-f rawvideo -pixel_format gray` at {@link VOLUME_FPS}, so probing, decoding,
 * resizing, seeking and HLS packaging treat a volume as any other clip. ffmpeg's gray → rgb24
 * conversion copies the byte to R, G and B (checked in test/engine/source/volume-source.test.ts),
 * which is the gray-replicated-to-RGB input MedSAM2 gives CT slices.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CinesegError, ErrorCode } from '../errors.js';
import type { ResolvedInput } from './resolved-input.js';
import { openVolumeInput, renderSlice, VOLUME_FPS, windowsFor, type PlaneView, type VolumeClip, type WindowLevel } from './volume-slices.js';
import { parseVolumeSpec, type Modality } from './volume.js';
import { stagingDir } from './staging-dir.js';

/** What a staged volume input shows (ClipInfo.volume is made from it). */
export interface VolumeStageInfo {
  path: string;
  format: 'nifti' | 'dicom-series';
  modality: Modality;
  view: PlaneView;
  window: WindowLevel;
  /** Window presets offered for this volume (CT only). */
  windows: WindowLevel[];
}

/** Summary of a volume clip for listings and ClipInfo.volume. */
export function volumeStageInfo(clip: VolumeClip): VolumeStageInfo {
  return { path: clip.volume.path, format: clip.volume.format, modality: clip.volume.modality, view: clip.view, window: clip.window, windows: windowsFor(clip.volume) };
}

/**
 * Stages `input` when it names a volume (see volume.ts), else returns null. `release()` removes
 * the staged file.
 */
export async function stageVolumeInput(input: string): Promise<(ResolvedInput & { volume: VolumeStageInfo }) | null> {
  const clip = openVolumeInput(input);
  if (!clip) return null;
  const { view } = clip;
  const { dir, release } = await stagingDir('cineseg-volume-');
  try {
    const file = join(dir, 'slices.gray');
    await new Promise<void>((resolve, reject) => {
      const ws = createWriteStream(file);
      ws.on('error', reject);
      ws.on('finish', resolve);
      for (let t = 0; t < view.depth; t++) ws.write(renderSlice(clip.volume, view, t, clip.window, new Uint8Array(view.width * view.height)));
      ws.end();
    });
    const args = ['-f', 'rawvideo', '-pixel_format', 'gray', '-video_size', `${view.width}x${view.height}`, '-framerate', String(VOLUME_FPS), '-i', `file:${file}`];
    return { input, kind: 'file', args, readsStdin: false, sizeBytes: (await stat(file)).size, release, volume: volumeStageInfo(clip) };
  } catch (cause) {
    await release();
    throw cause instanceof CinesegError ? cause : new CinesegError(ErrorCode.E_OUTPUT_WRITE, `could not stage ${input} for decoding: ${(cause as Error).message}`, { cause });
  }
}

/**
 * A stable identity for a volume input: sha256 over the file's bytes (a DICOM folder: its file
 * names and bytes, in name order) and the plane and window shown, so one scan seen in two planes
 * is two clips and a renamed copy is the same one. Null when `input` is no volume.
 */
export async function volumeContentHash(input: string): Promise<string | null> {
  const spec = parseVolumeSpec(input);
  if (!spec) return null;
  const h = createHash('sha256');
  const st = await stat(spec.path);
  const files = st.isDirectory()
    ? (await readdir(spec.path, { withFileTypes: true }))
        .filter((d) => d.isFile() && !d.name.startsWith('.'))
        .map((d) => d.name)
        .sort()
        .map((n) => join(spec.path, n))
    : [spec.path];
  for (const f of files) {
    if (files.length > 1) h.update(`\0${basename(f)}\0`);
    for await (const chunk of createReadStream(f)) h.update(chunk as Buffer);
  }
  h.update(`#${spec.plane ?? 'axial'}:${spec.window ?? ''}`);
  return h.digest('hex');
}
