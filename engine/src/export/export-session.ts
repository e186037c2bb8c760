/**
 * A stored session (or a `cineseg track` result) written in one standard format: the one code path
 * behind `cineseg export`, the server's export route and `cineseg batch --export`.
 *
 * The store is a SQLite file or a postgres:// URL (store/open-store.ts), so any machine that reaches
 * the database exports every session. The masks, sizes and the clip's DICOM facts are in the store:
 * VIS, COCO, PNG and a DICOM cine's NIfTI never read the clip. What does read it: DICOM SEG of a
 * DICOM clip (its patient and study modules are copied into the SEG, so the source file, or
 * `sourceDicom`, must be readable here), and NIfTI / DICOM SEG of a volume view (the labels go back
 * into the source's voxel grid). Those fail with E_INPUT_NOT_FOUND naming the path when it is not on
 * this machine, never with a silently different file.
 */
import { existsSync } from 'node:fs';
import { CinesegError, ErrorCode } from '../errors.js';
import { readVisJson, type VisJson } from '../mask/vis-json.js';
import { PLANES } from '../source/volume-slices.js';
import { isNiftiName } from '../source/volume.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { defaultStoreSpec, isPostgresSpec, openStore } from '../store/open-store.js';
import type { ClipDicomRefs, ClipRecord } from '../store/store-records.js';
import { exportCoco } from './coco.js';
import { exportDicomSeg } from './dicom-seg.js';
import { filterVis } from './filter.js';
import { exportNifti } from './nifti.js';
import { exportPng } from './png.js';
import { exportVis } from './vis.js';

export const EXPORT_FORMATS = ['vis', 'coco', 'png', 'nifti', 'dicom-seg'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportMasksOptions {
  /** A session id in the store, or a path to a YouTube-VIS JSON file. */
  source: string;
  format: ExportFormat;
  /** Output file (vis, coco, nifti, dicom-seg) or folder (png). */
  out: string;
  /** Store for session ids: a SQLite file or a postgres:// URL (default: {@link defaultStoreSpec}). */
  store?: string;
  /** Source DICOM file, when the clip came from one and the masks come from a JSON file (or the stored path is not on this machine). */
  sourceDicom?: string;
  /** COCO iscrowd (default 1). */
  iscrowd?: 0 | 1;
  /** Only these objects (`--object`, see export/filter.ts). */
  objects?: readonly number[];
  /** Only masks of these frames, both ends included (`--frames`). */
  frames?: readonly [number, number];
  /** A store already open in this process (the server's, a batch's), used instead of opening `store`; left open. */
  openStore?: AnnotationStore;
}

/** What an export wrote. */
export interface ExportMasksResult {
  format: ExportFormat;
  out: string;
  objects: number;
  frames: number;
  /** Frame-masks exported (non-null segmentations). */
  masks: number;
}

interface Loaded {
  vis: VisJson;
  dicom?: ClipDicomRefs;
  sourcePath?: string;
  frameTimeMs?: number;
}

/**
 * The file a stored clip path names, and whether it is a volume: a volume view is stored as
 * `<file>#<plane>[:<window>]` (a NIfTI file or a DICOM series folder).
 */
function clipFileOf(path: string): { file: string; volume: boolean } {
  const at = path.lastIndexOf('#');
  const plane = at > 0 ? path.slice(at + 1).split(':')[0]! : '';
  const file = !existsSync(path) && (PLANES as readonly string[]).includes(plane) ? path.slice(0, at) : path;
  return { file, volume: file !== path || isNiftiName(file) };
}

/**
 * NIfTI and DICOM SEG of a clip whose source they need (see the module comment): that source must
 * be on this machine. A session exported from another machine than the one that tracked it finds
 * its clip through a shared path; otherwise this says which path is missing.
 */
function checkSourceReadable(clip: ClipRecord, format: ExportFormat, sourceDicom: string | undefined): void {
  if (format !== 'nifti' && format !== 'dicom-seg') return;
  const { file, volume } = clipFileOf(clip.path);
  if (existsSync(file)) return;
  if (volume) {
    throw new CinesegError(
      ErrorCode.E_INPUT_NOT_FOUND,
      `${format} of a volume session puts the labels back in the volume's voxel grid, and its source ${file} is not on this machine (mount the media at the same path, or export vis/coco/png)`,
    );
  }
  if (format === 'dicom-seg' && clip.dicom && !sourceDicom) {
    throw new CinesegError(
      ErrorCode.E_INPUT_NOT_FOUND,
      `the session's DICOM clip ${file} is not on this machine; the SEG copies its patient and study modules: give --source-dicom <file> (or mount the media at the same path)`,
    );
  }
}

async function load(opts: ExportMasksOptions): Promise<Loaded> {
  // With an open store the source is always a session id (never a file of its working folder).
  const looksLikeFile = !opts.openStore && (opts.source.endsWith('.json') || existsSync(opts.source));
  if (looksLikeFile) {
    const vis = readVisJson(opts.source);
    return { vis, ...(opts.sourceDicom ? { sourcePath: opts.sourceDicom } : {}) };
  }
  const read = async (store: AnnotationStore): Promise<Loaded> => {
    const { clip } = await store.loadSession(opts.source);
    checkSourceReadable(clip, opts.format, opts.sourceDicom);
    const vis = await store.toVisJson(opts.source);
    const isDicom = clip.dicom !== undefined;
    return {
      vis,
      ...(clip.dicom ? { dicom: clip.dicom } : {}),
      ...(opts.sourceDicom ? { sourcePath: opts.sourceDicom } : isDicom ? { sourcePath: clip.path } : {}),
      ...(clip.frameTimeMs === undefined ? {} : { frameTimeMs: clip.frameTimeMs }),
    };
  };
  if (opts.openStore) return read(opts.openStore);
  const spec = opts.store ?? defaultStoreSpec();
  // A reader never creates an empty store where a path was mistyped.
  if (!isPostgresSpec(spec) && !existsSync(spec)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `"${opts.source}" is not a file, and there is no store at ${spec} (use --store)`);
  const store = await openStore(spec, { readonly: true });
  try {
    return await read(store);
  } finally {
    await store.destroy();
  }
}

/** Exports a session or a masks file in one format. */
export async function exportMasks(opts: ExportMasksOptions): Promise<ExportMasksResult> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) {
    throw new CinesegError(ErrorCode.E_EXPORT_FORMAT, `unknown format "${opts.format}"; choose one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const loaded = await load(opts);
  const { dicom, sourcePath, frameTimeMs } = loaded;
  const vis = filterVis(loaded.vis, { ...(opts.objects ? { objects: opts.objects } : {}), ...(opts.frames ? { frames: opts.frames } : {}) });
  switch (opts.format) {
    case 'vis':
      exportVis(vis, opts.out);
      break;
    case 'coco':
      exportCoco(vis, opts.out, opts.iscrowd === undefined ? {} : { iscrowd: opts.iscrowd });
      break;
    case 'png':
      exportPng(vis, opts.out);
      break;
    case 'nifti':
      exportNifti(vis, opts.out, {
        ...(dicom?.pixelSpacing ? { pixelSpacing: dicom.pixelSpacing } : {}),
        ...(frameTimeMs === undefined ? {} : { frameTimeMs }),
      });
      break;
    case 'dicom-seg':
      await exportDicomSeg(vis, opts.out, { ...(sourcePath ? { sourceDicom: sourcePath } : {}) });
      break;
  }
  const v = vis.videos[0]!;
  const anns = vis.annotations.filter((a) => a.video_id === v.id);
  return {
    format: opts.format,
    out: opts.out,
    objects: anns.length,
    frames: v.length,
    masks: anns.reduce((n, a) => n + a.segmentations.filter((s) => s !== null).length, 0),
  };
}
