/**
 * A folder of single-frame DICOM images (one CT or MR series) read as a {@link Volume}.
 *
 * Slices are ordered by where they are, not by file name or Instance Number: each Image Position
 * (Patient) is projected on the slice normal (row direction × column direction of Image
 * Orientation (Patient)) and sorted ascending, so k grows along the normal. Values are Rescale
 * Slope × stored + Rescale Intercept (Hounsfield units for CT). The affine maps (column i, row j,
 * slice k) to RAS+ mm: DICOM's LPS with x and y negated, the NIfTI convention.
 *
 * A folder with several series uses the one with the most slices (others are named in the
 * error only when none is usable). Uncompressed transfer syntaxes only; patient data never leaves
 * this module except the UIDs a SEG must reference.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import dcmjs, { type NaturalDataset } from 'dcmjs';
import { CinesegError, ErrorCode } from '../errors.js';
import type { Affine, DicomSeriesRefs, Modality, Volume } from './volume.js';

const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);
const BIG_ENDIAN = '1.2.840.10008.1.2.2';

interface Slice {
  file: string;
  ds: NaturalDataset;
  ts: string;
  position: [number, number, number];
  /** Position along the normal. */
  along: number;
}

const nums = (v: unknown, n: number): number[] | null => {
  const a = (Array.isArray(v) ? v : typeof v === 'string' ? v.split('\\') : [v]).map(Number);
  return a.length === n && a.every(Number.isFinite) ? a : null;
};
const one = (v: unknown, fallback: number): number => {
  const x = Number(Array.isArray(v) ? v[0] : v);
  return v === undefined || v === null || v === '' || !Number.isFinite(x) ? fallback : x;
};
const cross = (a: number[], b: number[]): number[] => [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
const dot = (a: number[], b: number[]): number => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;

function parseFile(file: string, buf: Buffer): { ds: NaturalDataset; ts: string } | null {
  const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
  const level = dcmjs.log.getLevel();
  dcmjs.log.setLevel('error');
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    const dict = DicomMessage.readFile(ab);
    const meta = DicomMetaDictionary.naturalizeDataset(dict.meta);
    return { ds: DicomMetaDictionary.naturalizeDataset(dict.dict), ts: String(meta.TransferSyntaxUID ?? '1.2.840.10008.1.2') };
  } catch {
    return null;
  } finally {
    dcmjs.log.setLevel(level);
  }
}

/** The series' slices in position order (see the module comment), without decoding pixels. */
export function readSeriesSlices(dir: string): Slice[] {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && !d.name.startsWith('.'))
    .map((d) => d.name);
  const bySeries = new Map<string, Slice[]>();
  for (const name of names) {
    const file = join(dir, name);
    const buf = readFileSync(file);
    if (buf.length < 132 || buf.toString('latin1', 128, 132) !== 'DICM') continue;
    const parsed = parseFile(file, buf);
    if (!parsed || parsed.ds.PixelData === undefined) continue;
    const position = nums(parsed.ds.ImagePositionPatient, 3);
    if (!position) continue;
    const series = String(parsed.ds.SeriesInstanceUID ?? '');
    let list = bySeries.get(series);
    if (!list) bySeries.set(series, (list = []));
    list.push({ file, ds: parsed.ds, ts: parsed.ts, position: position as [number, number, number], along: 0 });
  }
  const best = [...bySeries.values()].sort((a, b) => b.length - a.length)[0];
  if (!best || best.length === 0) {
    throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${dir}: no DICOM images with Image Position (Patient) in the folder`, { details: { path: dir } });
  }
  const iop = nums(best[0]!.ds.ImageOrientationPatient, 6) ?? [1, 0, 0, 0, 1, 0];
  const normal = cross(iop.slice(0, 3), iop.slice(3, 6));
  for (const s of best) s.along = dot(s.position, normal);
  best.sort((a, b) => a.along - b.along);
  for (let k = 1; k < best.length; k++) {
    if (Math.abs(best[k]!.along - best[k - 1]!.along) < 1e-4) {
      throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${dir}: two slices share one position (${best[k - 1]!.file}, ${best[k]!.file}); one series per folder`, { details: { path: dir } });
    }
  }
  return best;
}

/**
 * Reads the folder's series into a volume (values rescaled; the affine in RAS+). Synchronous, as
 * the NIfTI reader, so exporters can recover a volume's geometry where they run synchronously.
 */
export function readDicomSeries(dirIn: string): Volume {
  const dir = resolvePath(dirIn);
  const slices = readSeriesSlices(dir);
  const first = slices[0]!.ds;
  const nx = one(first.Columns, 0);
  const ny = one(first.Rows, 0);
  if (!(nx > 0 && ny > 0)) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${dir}: DICOM slices have no Rows/Columns`, { details: { path: dir } });
  const nz = slices.length;
  const data = new Float32Array(nx * ny * nz);
  const plane = nx * ny;
  slices.forEach((s, k) => {
    const { ds, ts } = s;
    if (!NATIVE.has(ts)) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${s.file}: transfer syntax ${ts} is not supported in a series (uncompressed only)`, { details: { path: s.file } });
    if (one(ds.Columns, 0) !== nx || one(ds.Rows, 0) !== ny)
      throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${s.file}: slice size differs from the series' ${nx}x${ny}`, { details: { path: s.file } });
    if (one(ds.SamplesPerPixel, 1) !== 1) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${s.file}: colour slices are not a CT/MR series`, { details: { path: s.file } });
    const bits = one(ds.BitsAllocated, 16);
    const signed = one(ds.PixelRepresentation, 0) === 1;
    const slope = one(ds.RescaleSlope, 1);
    const inter = one(ds.RescaleIntercept, 0);
    const pd = Array.isArray(ds.PixelData) ? ds.PixelData[0] : ds.PixelData;
    const bytes = pd instanceof ArrayBuffer ? new Uint8Array(pd) : ArrayBuffer.isView(pd) ? new Uint8Array(pd.buffer, pd.byteOffset, pd.byteLength) : null;
    if (!bytes || bytes.length < plane * (bits / 8)) throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${s.file}: pixel data is shorter than ${nx}x${ny}`, { details: { path: s.file } });
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const le = ts !== BIG_ENDIAN;
    const base = k * plane;
    for (let p = 0; p < plane; p++) {
      let v: number;
      if (bits === 8) v = signed ? dv.getInt8(p) : dv.getUint8(p);
      else if (bits === 16) v = signed ? dv.getInt16(2 * p, le) : dv.getUint16(2 * p, le);
      else if (bits === 32) v = signed ? dv.getInt32(4 * p, le) : dv.getUint32(4 * p, le);
      else throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${s.file}: ${bits}-bit pixels are not supported`, { details: { path: s.file } });
      data[base + p] = v * slope + inter;
    }
  });
  const iop = (nums(first.ImageOrientationPatient, 6) ?? [1, 0, 0, 0, 1, 0]) as DicomSeriesRefs['orientation'];
  const ps = (nums(first.PixelSpacing, 2) ?? [1, 1]) as [number, number];
  const p0 = slices[0]!.position;
  const pLast = slices[nz - 1]!.position;
  const sliceSpacing = nz > 1 ? (slices[nz - 1]!.along - slices[0]!.along) / (nz - 1) : one(first.SliceThickness, 1);
  // Slice step: from first to last position (exact for tilted stacks), else the normal.
  const normal = cross(iop.slice(0, 3), iop.slice(3, 6));
  const step = nz > 1 ? [0, 1, 2].map((a) => (pLast[a]! - p0[a]!) / (nz - 1)) : normal.map((v) => v * sliceSpacing);
  // LPS columns: i moves along the row direction by the column spacing ps[1], j along the column direction by ps[0].
  const lps: Affine = [0, 1, 2].map((a) => [iop[a]! * ps[1], iop[3 + a]! * ps[0], step[a]!, p0[a]!]);
  const affine: Affine = [...lps.map((row, a) => (a < 2 ? row.map((v) => -v) : row)), [0, 0, 0, 1]];
  const modality = String(first.Modality ?? '').toUpperCase();
  const refs: DicomSeriesRefs = {
    studyInstanceUid: String(first.StudyInstanceUID ?? ''),
    seriesInstanceUid: String(first.SeriesInstanceUID ?? ''),
    ...(first.FrameOfReferenceUID ? { frameOfReferenceUid: String(first.FrameOfReferenceUID) } : {}),
    sopClassUid: String(first.SOPClassUID ?? ''),
    instances: slices.map((s) => ({ sopInstanceUid: String(s.ds.SOPInstanceUID ?? ''), position: s.position })),
    orientation: iop,
    pixelSpacing: ps,
    sliceSpacing,
    firstFile: slices[0]!.file,
  };
  return {
    path: dir,
    format: 'dicom-series',
    dims: [nx, ny, nz],
    data,
    affine,
    spacing: [ps[1], ps[0], Math.abs(sliceSpacing)],
    modality: (modality === 'CT' || modality === 'MR' ? modality : 'OT') as Modality,
    dicom: refs,
  };
}
