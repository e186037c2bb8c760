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
 *
 * Volume sources (a NIfTI file or DICOM series tracked as slices, source/volume-slices.ts): the
 * labels go back into the source's voxel grid, whatever plane was tracked, and the header keeps
 * the source's geometry: dims, pixdim, qform (code, quaternion, offsets) and sform (code, srow)
 * as read from a NIfTI source; for a DICOM series the RAS affine as sform (code 1) and no qform.
 */
import { gzipSync } from 'node:zlib';
import { CinesegError, ErrorCode } from '../errors.js';
import type { VisJson } from '../mask/vis-json.js';
import { binaryLabeler, planLabels, type LabelEntry } from './label-map.js';
import type { LabelMapExportOptions } from './png.js';
import { writeJson, writeOutput } from './output.js';
import { openVolumeInput, slicesToVoxels, type VolumeClip } from '../source/volume-slices.js';

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
  /**
   * The volume the masks were tracked on; by default the VIS video's `file` when it names a
   * volume input whose plane has the masks' size. `null`: always write the frames as a cine.
   */
  volume?: VolumeClip | null;
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

/** The volume a VIS result was tracked on, when its `file` names one whose plane fits the masks. */
function sourceVolume(video: VisJson['videos'][number]): VolumeClip | null {
  let clip: VolumeClip | null;
  try {
    clip = openVolumeInput(video.file);
  } catch {
    return null; // The source moved or is unreadable: the masks are still exported, as a cine.
  }
  const v = clip?.view;
  return clip && v!.width === video.width && v!.height === video.height && v!.depth === video.length ? clip : null;
}

/** Overwrites the geometry fields of a label header with the volume's (see the module comment). */
function putVolumeGeometry(h: Buffer, clip: VolumeClip): void {
  const vol = clip.volume;
  const g = vol.nifti;
  if (g) {
    g.pixdim.forEach((d, i) => h.writeFloatLE(i === 0 ? d || 1 : d, 76 + 4 * i));
    h.writeInt16LE(g.qformCode, 252);
    h.writeInt16LE(g.sformCode, 254);
    g.quatern.forEach((q, i) => h.writeFloatLE(q, 256 + 4 * i));
    g.srow.forEach((row, r) => row.forEach((v, c) => h.writeFloatLE(v, 280 + 16 * r + 4 * c)));
    h[123] = g.xyztUnits;
  } else {
    [1, ...vol.spacing, 0, 0, 0, 0].forEach((d, i) => h.writeFloatLE(d, 76 + 4 * i));
    h.writeInt16LE(0, 252);
    h.writeInt16LE(1, 254);
    for (let i = 0; i < 6; i++) h.writeFloatLE(0, 256 + 4 * i);
    vol.affine.slice(0, 3).forEach((row, r) => row.forEach((v, c) => h.writeFloatLE(v, 280 + 16 * r + 4 * c)));
    h[123] = UNITS_MM;
  }
}

/** Writes the label volume to `out` (.nii or .nii.gz) and `<out>.labels.json`. */
export function exportNifti(vis: VisJson, out: string, opts: NiftiExportOptions = {}): NiftiExportResult {
  const plan = planLabels(vis);
  const labelFrame = (opts.labels ?? binaryLabeler)(plan);
  const { width, height, length, fps } = plan.video;
  const n = plan.labels.length;
  if (n > 65535) throw new CinesegError(ErrorCode.E_USAGE, `NIfTI uint16 labels hold at most 65535 objects, this result has ${n}`);
  const datatype = n > 255 ? 'uint16' : 'uint8';
  const clip = opts.volume === undefined ? sourceVolume(plan.video) : opts.volume;
  if (clip) {
    const voxels =
      datatype === 'uint8'
        ? slicesToVoxels(
            clip.view,
            (k) => new Uint8Array(k),
            (t, m) => void labelFrame(t, m),
          )
        : slicesToVoxels(
            clip.view,
            (k) => new Uint16Array(k),
            (t, m) => void labelFrame(t, m),
          );
    const dims = clip.volume.dims;
    const header = niftiHeader(dims, clip.volume.spacing, datatype, n, `cineseg labels; ${clip.view.plane} slices of ${clip.volume.format}`);
    putVolumeGeometry(header, clip);
    const body = datatype === 'uint8' ? Buffer.from(voxels.buffer, voxels.byteOffset, voxels.byteLength) : Buffer.alloc(voxels.length * 2);
    if (datatype === 'uint16') voxels.forEach((v, i) => body.writeUInt16LE(v, 2 * i));
    const data = Buffer.concat([header, body]);
    const bytes = out.endsWith('.gz') ? gzipSync(data) : data;
    writeOutput(out, bytes);
    writeJson(`${out}.labels.json`, { labels: plan.labels });
    return { datatype, dims: [...dims] as [number, number, number], pixdim: [...clip.volume.spacing] as [number, number, number], labels: plan.labels, bytes: bytes.length };
  }
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
