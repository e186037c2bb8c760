/**
 * Registers a clip file in the store the way every entry point should (batch, server, CLI): the
 * content hash is the identity, so the same bytes under another name or path are the same clip;
 * size, frame count and rate come from the probe; DICOM files add their UIDs, pixel spacing and
 * Frame Time (never patient data).
 */
import { resolve } from 'node:path';
import { probe } from '../decode/probe.js';
import { isDicomFile, readDicomCineInfo } from '../source/dicom-cine-source.js';
import { parseVolumeSpec } from '../source/volume.js';
import { volumeContentHash } from '../source/volume-source.js';
import type { AnnotationStore } from './annotation-store.js';
import { hashFile } from './clip-hash.js';
import type { ClipRecord } from './store-records.js';

/**
 * A clip's identity in the store: the hash of its bytes, or for a volume view
 * (`ct.nii.gz#coronal:lung`, a DICOM series folder) the hash of its files plus plane and window,
 * since each view is a clip of its own slices.
 */
export async function hashClip(path: string): Promise<string> {
  return (await volumeContentHash(path)) ?? hashFile(path);
}

/** Hashes, probes and registers `path` (or returns the clip already stored with its hash). */
export async function registerClipFile(store: AnnotationStore, path: string): Promise<ClipRecord> {
  const abs = resolve(path);
  const contentHash = await hashClip(abs);
  const known = await store.getClip(contentHash);
  if (known) return known.path === abs ? known : store.upsertClip({ ...known, path: abs });
  const info = await probe(abs);
  // A volume is not a DICOM cine (a series folder is read slice by slice in source/dicom-series.ts).
  const dicom = parseVolumeSpec(abs) === null && (await isDicomFile(abs)) ? await readDicomCineInfo(abs) : null;
  return store.upsertClip({
    path: abs,
    contentHash,
    width: info.width,
    height: info.height,
    numFrames: info.frameCount ?? dicom?.numFrames ?? 0,
    fps: info.fps,
    ...(dicom ? { frameTimeMs: dicom.frameTimeMs, dicom: dicom.refs } : {}),
  });
}
