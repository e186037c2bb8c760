/**
 * `GET /api/sessions/:id/export?format=vis|coco|png|nifti|dicom-seg&objects=1,3&frames=10-40`:
 * a stored session as a file download (Content-Disposition: attachment), written by the same
 * code as `cineseg export` (cli/export-command.ts exportMasks, export/filter.ts for objects and
 * frames) from the server's own open store. `png` is a mask sequence, so it comes as one
 * store-only zip (export/zip.ts) of the frames and their labels.json; `nifti` is the .nii.gz
 * (its labels live in the header's description and a sidecar the zip-less download leaves out).
 *
 * The files are written to a private temporary folder, read back and removed before the reply;
 * errors are JSON with a stable code: E_EXPORT_FORMAT, E_EXPORT_FILTER (400), E_SESSION_UNKNOWN
 * (404), and the exporters' own (E_INPUT_NOT_FOUND for DICOM SEG of a clip that is not DICOM…).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { EXPORT_FORMATS, exportMasks, type ExportFormat } from '../export/export-session.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { parseFrameRange, parseObjectList } from '../export/filter.js';
import { zipStore } from '../export/zip.js';
import type { AnnotationStore } from '../store/annotation-store.js';

const FILES: Record<ExportFormat, { ext: string; type: string }> = {
  vis: { ext: '.vis.json', type: 'application/json' },
  coco: { ext: '.coco.json', type: 'application/json' },
  png: { ext: '.png.zip', type: 'application/zip' },
  nifti: { ext: '.nii.gz', type: 'application/gzip' },
  'dicom-seg': { ext: '.seg.dcm', type: 'application/dicom' },
};

/** What a download holds. */
export interface ExportDownload {
  filename: string;
  contentType: string;
  body: Buffer;
}

/**
 * The session's export for a request's query.
 * @throws CinesegError E_EXPORT_FORMAT, E_EXPORT_FILTER, E_SESSION_UNKNOWN and the exporters' codes
 */
export async function exportDownload(store: AnnotationStore, sessionId: string, query: URLSearchParams): Promise<ExportDownload> {
  const format = query.get('format') ?? 'vis';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new CinesegError(ErrorCode.E_EXPORT_FORMAT, `unknown format ${JSON.stringify(format.slice(0, 32))}; choose one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const f = format as ExportFormat;
  const objectsQ = query.get('objects');
  const framesQ = query.get('frames');
  const objects = objectsQ ? parseObjectList(objectsQ) : undefined;
  const frames = framesQ ? parseFrameRange(framesQ) : undefined;
  const clip = (await store.getClip((await store.requireSession(sessionId)).clipId))!;
  const dir = mkdtempSync(join(tmpdir(), 'cineseg-export-'));
  try {
    const out = join(dir, f === 'png' ? 'png' : `out${FILES[f].ext}`);
    await exportMasks({ source: sessionId, format: f, out, openStore: store, ...(objects ? { objects } : {}), ...(frames ? { frames } : {}) });
    let body: Buffer;
    if (f === 'png') {
      const names = readdirSync(out).sort();
      body = zipStore(names.map((n) => ({ name: n, data: readFileSync(join(out, n)) })));
    } else body = readFileSync(out);
    const stem = basename(clip.path, extname(clip.path)) === 'clip' ? basename(join(clip.path, '..')) : basename(clip.path, extname(clip.path));
    const part = [objects ? `obj${objects.join('-')}` : '', frames ? `f${frames[0]}-${frames[1]}` : ''].filter(Boolean).join('_');
    const filename = `${safe(stem)}_${safe(sessionId.slice(0, 8))}${part ? `_${part}` : ''}${FILES[f].ext}`;
    return { filename, contentType: FILES[f].type, body };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends a download (HEAD: headers only). */
export function sendDownload(res: ServerResponse, d: ExportDownload, head: boolean): void {
  res.writeHead(200, {
    'content-type': d.contentType,
    'content-length': d.body.length,
    'content-disposition': `attachment; filename="${d.filename}"`,
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : d.body);
}

/** File-name safe (ASCII letters, digits, `._-`), so the header needs no encoding. */
function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'session';
}
