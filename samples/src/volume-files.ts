/**
 * The two file formats a synthetic CT volume is written in, by hand and apart from the engine's
 * readers (so the engine's tests read files it did not write):
 * - NIfTI-1 single file (`n+1`, vox_offset 352, little endian), optionally gzipped, with both
 *   qform and sform set;
 * - a DICOM CT series: one Part 10 file per slice, explicit VR little endian, CT Image Storage.
 */
import { gzipSync } from 'node:zlib';

/** NIfTI datatype codes used here. */
export const NIFTI_UINT8 = 2;
export const NIFTI_INT16 = 4;
export const NIFTI_FLOAT32 = 16;

export interface NiftiWrite {
  dims: [number, number, number];
  datatype: typeof NIFTI_UINT8 | typeof NIFTI_INT16 | typeof NIFTI_FLOAT32;
  /** Stored values, voxel (i, j, k) at i + nx * (j + ny * k). */
  values: ArrayLike<number>;
  /** Voxel size (pixdim[1..3]) in mm. */
  pixdim: [number, number, number];
  /** srow_x, srow_y, srow_z (also what the qform encodes). */
  srow: [number[], number[], number[]];
  /** quatern_b, c, d and qfac of the same rotation. */
  quatern: [number, number, number];
  qfac: 1 | -1;
  sclSlope?: number;
  sclInter?: number;
  intentLabel?: boolean;
  descrip?: string;
  gzip: boolean;
}

/** The bytes of a NIfTI-1 file. */
export function niftiBytes(w: NiftiWrite): Buffer {
  const bytes = w.datatype === NIFTI_UINT8 ? 1 : w.datatype === NIFTI_INT16 ? 2 : 4;
  const n = w.dims[0] * w.dims[1] * w.dims[2];
  const buf = Buffer.alloc(352 + n * bytes);
  buf.writeInt32LE(348, 0);
  [3, w.dims[0], w.dims[1], w.dims[2], 1, 1, 1, 1].forEach((d, i) => buf.writeInt16LE(d, 40 + 2 * i));
  if (w.intentLabel) buf.writeInt16LE(1002, 68);
  buf.writeInt16LE(w.datatype, 70);
  buf.writeInt16LE(8 * bytes, 72);
  [w.qfac, ...w.pixdim, 0, 0, 0, 0].forEach((d, i) => buf.writeFloatLE(d, 76 + 4 * i));
  buf.writeFloatLE(352, 108);
  buf.writeFloatLE(w.sclSlope ?? 1, 112);
  buf.writeFloatLE(w.sclInter ?? 0, 116);
  buf[123] = 2 | 8; // mm, s
  buf.write((w.descrip ?? '').slice(0, 79), 148, 'latin1');
  buf.writeInt16LE(1, 252); // qform_code scanner
  buf.writeInt16LE(1, 254); // sform_code scanner
  w.quatern.forEach((q, i) => buf.writeFloatLE(q, 256 + 4 * i));
  [w.srow[0][3]!, w.srow[1][3]!, w.srow[2][3]!].forEach((o, i) => buf.writeFloatLE(o, 268 + 4 * i));
  w.srow.forEach((row, r) => row.forEach((v, c) => buf.writeFloatLE(v, 280 + 16 * r + 4 * c)));
  buf.write('n+1\0', 344, 'latin1');
  for (let p = 0; p < n; p++) {
    const v = w.values[p]!;
    if (w.datatype === NIFTI_UINT8) buf.writeUInt8(v, 352 + p);
    else if (w.datatype === NIFTI_INT16) buf.writeInt16LE(v, 352 + 2 * p);
    else buf.writeFloatLE(v, 352 + 4 * p);
  }
  return w.gzip ? gzipSync(buf) : buf;
}

type Vr = 'UL' | 'OB' | 'OW' | 'UI' | 'CS' | 'DA' | 'TM' | 'LO' | 'PN' | 'DS' | 'IS' | 'US' | 'SH';
type Element = [group: number, element: number, vr: Vr, value: string | number | (string | number)[] | Uint8Array];

const LONG_VRS = new Set<Vr>(['OB', 'OW']);

function encodeValue(vr: Vr, value: Element[3]): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (vr === 'US') return Buffer.from(new Uint16Array([Number(value)]).buffer);
  if (vr === 'UL') return Buffer.from(new Uint32Array([Number(value)]).buffer);
  const text = Array.isArray(value) ? value.map(String).join('\\') : String(value);
  const b = Buffer.from(text, 'latin1');
  // Even length: UIDs pad with NUL, text with a space.
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
}

function encodeElement([group, element, vr, value]: Element): Buffer {
  const v = encodeValue(vr, value);
  const head = Buffer.alloc(LONG_VRS.has(vr) ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  if (LONG_VRS.has(vr)) head.writeUInt32LE(v.length, 8);
  else head.writeUInt16LE(v.length, 6);
  return Buffer.concat([head, v]);
}

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

export interface CtSliceWrite {
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string;
  instanceNumber: number;
  rows: number;
  columns: number;
  /** [between rows, between columns] mm. */
  pixelSpacing: [number, number];
  sliceThickness: number;
  position: [number, number, number];
  orientation: [number, number, number, number, number, number];
  /** Stored values (unsigned 16-bit); HU = stored + rescaleIntercept. */
  stored: Uint16Array;
  rescaleIntercept: number;
}

/** One CT slice as a DICOM Part 10 file. */
export function ctSliceBytes(s: CtSliceWrite): Buffer {
  const ds: Element[] = [
    [0x0008, 0x0008, 'CS', ['ORIGINAL', 'PRIMARY', 'AXIAL']],
    [0x0008, 0x0016, 'UI', CT_IMAGE_STORAGE],
    [0x0008, 0x0018, 'UI', s.sopInstanceUid],
    [0x0008, 0x0020, 'DA', '20260101'],
    [0x0008, 0x0030, 'TM', '120000'],
    [0x0008, 0x0060, 'CS', 'CT'],
    [0x0008, 0x103e, 'LO', 'synthetic CT phantom'],
    [0x0010, 0x0010, 'PN', 'Synthetic^Phantom'],
    [0x0010, 0x0020, 'LO', 'PHANTOM-1'],
    [0x0018, 0x0050, 'DS', s.sliceThickness],
    [0x0020, 0x000d, 'UI', s.studyInstanceUid],
    [0x0020, 0x000e, 'UI', s.seriesInstanceUid],
    [0x0020, 0x0010, 'SH', '1'],
    [0x0020, 0x0011, 'IS', 1],
    [0x0020, 0x0013, 'IS', s.instanceNumber],
    [0x0020, 0x0032, 'DS', s.position],
    [0x0020, 0x0037, 'DS', s.orientation],
    [0x0020, 0x0052, 'UI', s.frameOfReferenceUid],
    [0x0028, 0x0002, 'US', 1],
    [0x0028, 0x0004, 'CS', 'MONOCHROME2'],
    [0x0028, 0x0010, 'US', s.rows],
    [0x0028, 0x0011, 'US', s.columns],
    [0x0028, 0x0030, 'DS', s.pixelSpacing],
    [0x0028, 0x0100, 'US', 16],
    [0x0028, 0x0101, 'US', 12],
    [0x0028, 0x0102, 'US', 11],
    [0x0028, 0x0103, 'US', 0],
    [0x0028, 0x1050, 'DS', 40],
    [0x0028, 0x1051, 'DS', 400],
    [0x0028, 0x1052, 'DS', s.rescaleIntercept],
    [0x0028, 0x1053, 'DS', 1],
    [0x7fe0, 0x0010, 'OW', new Uint8Array(s.stored.buffer, s.stored.byteOffset, s.stored.byteLength)],
  ];
  const metaBody = Buffer.concat(
    (
      [
        [0x0002, 0x0001, 'OB', new Uint8Array([0, 1])],
        [0x0002, 0x0002, 'UI', CT_IMAGE_STORAGE],
        [0x0002, 0x0003, 'UI', s.sopInstanceUid],
        [0x0002, 0x0010, 'UI', EXPLICIT_LE],
        [0x0002, 0x0012, 'UI', '2.25.271828182845904523536028747135266249'],
      ] as Element[]
    ).map(encodeElement),
  );
  const groupLength = encodeElement([0x0002, 0x0000, 'UL', metaBody.length]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), groupLength, metaBody, ...ds.map(encodeElement)]);
}
