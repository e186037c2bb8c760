/**
 * `cineseg export <session-id|masks.json> --format vis|coco|png|nifti|dicom-seg --out … [--object 1,3] [--frames 10-40]`: writes a
 * stored session (or a `cineseg track` result) in a standard format. The work is in
 * `exportMasks` so tests and the batch command run what the CLI runs.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { checkOutputPath } from './output-path.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { readVisJson, type VisJson } from '../mask/vis-json.js';
import { exportCoco } from '../export/coco.js';
import { exportDicomSeg } from '../export/dicom-seg.js';
import { exportNifti } from '../export/nifti.js';
import { exportPng } from '../export/png.js';
import { exportVis } from '../export/vis.js';
import { filterVis, parseFrameRange, parseObjectList } from '../export/filter.js';
import { defaultStorePath, SessionStore, type ClipDicomRefs } from '../store/session-store.js';

export const EXPORT_FORMATS = ['vis', 'coco', 'png', 'nifti', 'dicom-seg'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportMasksOptions {
  /** A session id in the store, or a path to a YouTube-VIS JSON file. */
  source: string;
  format: ExportFormat;
  /** Output file (vis, coco, nifti, dicom-seg) or folder (png). */
  out: string;
  /** Store file for session ids (default: {@link defaultStorePath}). */
  store?: string;
  /** Source DICOM file, when the clip came from one and the masks come from a JSON file. */
  sourceDicom?: string;
  /** COCO iscrowd (default 1). */
  iscrowd?: 0 | 1;
  /** Only these objects (`--object`, see export/filter.ts). */
  objects?: readonly number[];
  /** Only masks of these frames, both ends included (`--frames`). */
  frames?: readonly [number, number];
  /** A store already open in this process (the server's), used instead of opening `store`. */
  openStore?: SessionStore;
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

function load(opts: ExportMasksOptions): Loaded {
  // With the server's open store the source is always a session id (never a file of its working folder).
  const looksLikeFile = !opts.openStore && (opts.source.endsWith('.json') || existsSync(opts.source));
  if (looksLikeFile) {
    const vis = readVisJson(opts.source);
    return { vis, ...(opts.sourceDicom ? { sourcePath: opts.sourceDicom } : {}) };
  }
  const storePath = opts.store ?? defaultStorePath();
  if (!opts.openStore && !existsSync(storePath)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `"${opts.source}" is not a file, and there is no store at ${storePath} (use --store)`);
  const store = opts.openStore ?? SessionStore.open(storePath, { readonly: true });
  try {
    const { clip } = store.loadSession(opts.source);
    const vis = store.toVisJson(opts.source);
    const isDicom = clip.dicom !== undefined;
    return {
      vis,
      ...(clip.dicom ? { dicom: clip.dicom } : {}),
      ...(opts.sourceDicom ? { sourcePath: opts.sourceDicom } : isDicom ? { sourcePath: clip.path } : {}),
      ...(clip.frameTimeMs === undefined ? {} : { frameTimeMs: clip.frameTimeMs }),
    };
  } finally {
    if (!opts.openStore) store.destroy();
  }
}

/** Exports a session or a masks file in one format. */
export async function exportMasks(opts: ExportMasksOptions): Promise<ExportMasksResult> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) {
    throw new CinesegError(ErrorCode.E_EXPORT_FORMAT, `unknown format "${opts.format}"; choose one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const loaded = load(opts);
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

/** The `--list` table: one line per session, newest first. */
export function listSessions(storePath: string): string {
  if (!existsSync(storePath)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `no store at ${storePath} (use --store)`);
  const store = SessionStore.open(storePath, { readonly: true });
  try {
    const rows = store.sessionSummaries().map((s) => [s.id, s.status, `${s.maskedFrames}/${s.numFrames}`, String(s.objects), s.updatedAt, basename(s.clipPath)]);
    const head = ['session', 'status', 'frames', 'objects', 'updated', 'clip'];
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    return [head, ...rows].map((r) => r.map((x, c) => x.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
  } finally {
    store.destroy();
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export a stored session or a masks.json as YouTube-VIS, COCO, PNG masks, NIfTI or DICOM SEG')
    .argument('[session]', 'session id in the store, or a YouTube-VIS masks.json (cineseg track output)')
    .option('--format <format>', `one of ${EXPORT_FORMATS.join(', ')}`)
    .option('--out <path>', 'output file (folder for png)')
    .option('--list', 'list the sessions in the store instead (id, status, clip, frames with masks)')
    .option('--store <db>', 'session store (default: $CINESEG_STORE or ./cineseg.db)')
    .option('--source-dicom <file>', 'dicom-seg: the source DICOM the masks were made on (a stored DICOM clip finds its own)')
    .option('--iscrowd <0|1>', 'coco: iscrowd of every annotation (default 1, as COCO pairs RLE with crowd)')
    .option('--object <ids>', 'only these objects, ids separated by commas (e.g. 1,3)')
    .option('--frames <a-b>', 'only masks of frames a to b (0-based, both included); png and coco write only those frames')
    .action(async (session: string | undefined, o: { format?: string; out?: string; store?: string; sourceDicom?: string; iscrowd?: string; list?: boolean; object?: string; frames?: string }) => {
      if (o.list) {
        process.stdout.write(`${listSessions(o.store ?? defaultStorePath())}\n`);
        return;
      }
      if (!session || !o.format || !o.out) throw new CinesegError(ErrorCode.E_USAGE, 'give a session id (or masks.json), --format and --out; or --list');
      if (o.iscrowd !== undefined && o.iscrowd !== '0' && o.iscrowd !== '1') throw new CinesegError(ErrorCode.E_USAGE, '--iscrowd must be 0 or 1');
      checkOutputPath(o.out, '--out', o.format === 'png');
      const r = await exportMasks({
        source: session,
        format: o.format as ExportFormat,
        out: o.out,
        ...(o.store ? { store: o.store } : {}),
        ...(o.sourceDicom ? { sourceDicom: o.sourceDicom } : {}),
        ...(o.iscrowd === undefined ? {} : { iscrowd: Number(o.iscrowd) as 0 | 1 }),
        ...(o.object === undefined ? {} : { objects: parseObjectList(o.object) }),
        ...(o.frames === undefined ? {} : { frames: parseFrameRange(o.frames) }),
      });
      process.stdout.write(`exported ${r.objects} object(s), ${r.masks} mask(s) over ${r.frames} frames as ${r.format}: ${r.out}\n`);
    });
}
