/**
 * NIfTI-1 label volume (single .nii, or .nii.gz): x = column, y = row, z = frame, so voxel
 * (x, y, t) is pixel (x, y) of frame t and the data is the frames' row-major label maps one after
 * another. Values are label values 1..N (label-map.ts; `labels.json`-style mapping in the header
 * extension-free `descrip` is too short, so a `<out>.labels.json` sidecar is written too).
 *
 * Header: sizeof_hdr 348, magic "n+1", vox_offset 352 (348 + the 4-byte "no extension" flag),
 * datatype uint8 (2) up to 255 objects else uint16 (512), intent NIFTI_INTENT_LABEL,
 * pixdim = [qfac 1, column spacing mm, row spacing mm, frame time ms] (1 mm when the source has no
 * spacing), xyzt_units mm + ms, and qform and sform both the scaling diagonal (code 1, scanner).
 */
import { gzipSync } from 'node:zlib';
import { CinesegError, ErrorCode } from '../errors.js';
import type { VisJson } from '../mask/vis-json.js';
import { binaryLabeler, planLabels, type LabelEntry } from './label-map.js';
import type { LabelMapExportOptions } from './png.js';
import { writeJson, writeOutput } from './output.js';

export const NIFTI_HEADER_SIZE = 348;
export const NIFTI_VOX_OFFSET = 352;
const DT_UINT8 = 2;
const DT_UINT16 = 512;
const INTENT_LABEL = 1002;
const UNITS_MM = 2;
const UNITS_MSEC = 16;

export interface NiftiExportOptions extends LabelMapExportOptions {
  /** Pixel spacing in mm as DICOM gives it: [row spacing (between rows), column spacing]. */
  pixelSpacing?: [number, number];
  /** Frame interval in ms (default 1000 / fps of the video). */
  frameTimeMs?: number;
}

export interface NiftiExportResult {
  datatype: 'uint8' | 'uint16';
  dims: [number, number, number];
  pixdim: [number, number, number];
  labels: LabelEntry[];
  bytes: number;
}

function putString(buf: Buffer, offset: number, max: number, s: string): void {
  buf.write(s.slice(0, max - 1), offset, 'latin1');
}

/** Builds the 352 header bytes (header + empty extension flag). */
export function niftiHeader(dims: [number, number, number], pixdim: [number, number, number], datatype: 'uint8' | 'uint16', maxLabel: number, descrip: string): Buffer {
  const h = Buffer.alloc(NIFTI_VOX_OFFSET);
  h.writeInt32LE(NIFTI_HEADER_SIZE, 0);
  h[38] = 'r'.charCodeAt(0); // "regular", as ANALYZE readers expect
  const dim = [3, dims[0], dims[1], dims[2], 1, 1, 1, 1];
  dim.forEach((d, i) => h.writeInt16LE(d, 40 + 2 * i));
  h.writeInt16LE(INTENT_LABEL, 68);
  h.writeInt16LE(datatype === 'uint8' ? DT_UINT8 : DT_UINT16, 70);
  h.writeInt16LE(datatype === 'uint8' ? 8 : 16, 72);
  const pd = [1, pixdim[0], pixdim[1], pixdim[2], 1, 1, 1, 1];
  pd.forEach((d, i) => h.writeFloatLE(d, 76 + 4 * i));
  h.writeFloatLE(NIFTI_VOX_OFFSET, 108);
  h.writeFloatLE(1, 112); // scl_slope: stored values are the labels
  h.writeFloatLE(0, 116);
  h[123] = UNITS_MM | UNITS_MSEC;
  h.writeFloatLE(maxLabel, 124); // cal_max
  h.writeFloatLE(0, 128); // cal_min
  putString(h, 148, 80, descrip);
  h.writeInt16LE(1, 252); // qform_code: scanner
  h.writeInt16LE(1, 254); // sform_code: scanner
  // quatern b, c, d and offsets stay 0: the identity rotation, origin at voxel 0.
  const srow = [
    [pixdim[0], 0, 0, 0],
    [0, pixdim[1], 0, 0],
    [0, 0, pixdim[2], 0],
  ];
  srow.forEach((row, r) => row.forEach((v, c) => h.writeFloatLE(v, 280 + 16 * r + 4 * c)));
  putString(h, 328, 16, 'labels');
  h.write('n+1\0', 344, 'latin1');
  // Bytes 348..351: extension flag 0 (no extensions), already zero.
  return h;
}

/** Writes the label volume to `out` (.nii or .nii.gz) and `<out>.labels.json`. */
export function exportNifti(vis: VisJson, out: string, opts: NiftiExportOptions = {}): NiftiExportResult {
  const plan = planLabels(vis);
  const labelFrame = (opts.labels ?? binaryLabeler)(plan);
  const { width, height, length, fps } = plan.video;
  const n = plan.labels.length;
  if (n > 65535) throw new CinesegError(ErrorCode.E_USAGE, `NIfTI uint16 labels hold at most 65535 objects, this result has ${n}`);
  const datatype = n > 255 ? 'uint16' : 'uint8';
  const [rowSpacing, colSpacing] = opts.pixelSpacing ?? [1, 1];
  const frameMs = opts.frameTimeMs ?? (fps > 0 ? 1000 / fps : 1);
  const pixdim: [number, number, number] = [colSpacing, rowSpacing, frameMs];
  const plane = width * height;
  const header = niftiHeader([width, height, length], pixdim, datatype, n, 'cineseg labels; axis 3 = frame, pixdim[3] = frame time ms');
  const data = Buffer.alloc(NIFTI_VOX_OFFSET + plane * length * (datatype === 'uint8' ? 1 : 2));
  data.set(header, 0);
  const map = datatype === 'uint8' ? new Uint8Array(plane) : new Uint16Array(plane);
  for (let t = 0; t < length; t++) {
    labelFrame(t, map);
    if (datatype === 'uint8') data.set(map as Uint8Array, NIFTI_VOX_OFFSET + t * plane);
    else for (let p = 0; p < plane; p++) data.writeUInt16LE(map[p]!, NIFTI_VOX_OFFSET + 2 * (t * plane + p));
  }
  const bytes = out.endsWith('.gz') ? gzipSync(data) : data;
  writeOutput(out, bytes);
  writeJson(`${out}.labels.json`, { labels: plan.labels });
  return { datatype, dims: [width, height, length], pixdim, labels: plan.labels, bytes: bytes.length };
}
