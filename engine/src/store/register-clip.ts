/**
 * Registers a clip file in the store the way every entry point should (batch, server, CLI): the
 * content hash is the identity, so the same bytes under another name or path are the same clip;
 * size, frame count and rate come from the probe; DICOM files add their UIDs, pixel spacing and
 * Frame Time (never patient data).
 */
import { resolve } from 'node:path';
import { probe } from '../decode/probe.js';
import { isDicomFile, readDicomCineInfo } from '../source/dicom-cine-source.js';
import { hashFile, type ClipRecord, type SessionStore } from './session-store.js';

/** Hashes, probes and registers `path` (or returns the clip already stored with its hash). */
export async function registerClipFile(store: SessionStore, path: string): Promise<ClipRecord> {
  const abs = resolve(path);
  const contentHash = await hashFile(abs);
  const known = store.getClip(contentHash);
  if (known) return known.path === abs ? known : store.upsertClip({ ...known, path: abs });
  const info = await probe(abs);
  const dicom = (await isDicomFile(abs)) ? await readDicomCineInfo(abs) : null;
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
