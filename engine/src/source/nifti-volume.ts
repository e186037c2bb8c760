/**
 * Reads a NIfTI-1 volume (.nii, or .nii.gz: gzip is recognised by its magic bytes, not the name)
 * into a {@link Volume}: either byte order (told by sizeof_hdr), the integer and float datatypes,
 * values scaled by scl_slope / scl_inter when slope is non-zero (as the standard says), and the
 * affine chosen as nibabel and most viewers choose it: sform when sform_code > 0, else qform when
 * qform_code > 0, else the pixdim diagonal. A 4D file gives its first volume. The header's
 * geometry fields are kept as read, so an export lands in exactly this grid.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { CinesegError, ErrorCode } from '../errors.js';
import type { Affine, Modality, NiftiGeometry, Volume } from './volume.js';

const HEADER = 348;

/** Bytes per voxel and the reader of one voxel, by NIfTI datatype code. */
const DATATYPES: Record<number, { bytes: number; name: string; read: (b: DataView, o: number, le: boolean) => number }> = {
  2: { bytes: 1, name: 'uint8', read: (b, o) => b.getUint8(o) },
  4: { bytes: 2, name: 'int16', read: (b, o, le) => b.getInt16(o, le) },
  8: { bytes: 4, name: 'int32', read: (b, o, le) => b.getInt32(o, le) },
  16: { bytes: 4, name: 'float32', read: (b, o, le) => b.getFloat32(o, le) },
  64: { bytes: 8, name: 'float64', read: (b, o, le) => b.getFloat64(o, le) },
  256: { bytes: 1, name: 'int8', read: (b, o) => b.getInt8(o) },
  512: { bytes: 2, name: 'uint16', read: (b, o, le) => b.getUint16(o, le) },
  768: { bytes: 4, name: 'uint32', read: (b, o, le) => b.getUint32(o, le) },
};

function bad(path: string, why: string, code: typeof ErrorCode.E_INPUT_UNSUPPORTED | typeof ErrorCode.E_DECODE_CORRUPT = ErrorCode.E_DECODE_CORRUPT): CinesegError {
  return new CinesegError(code, `${path}: ${why}`, { details: { path } });
}

/** The quaternion affine of NIfTI-1 method 2 (qform). */
export function qformAffine(q: NiftiGeometry['quatern'], pixdim: readonly number[]): Affine {
  const [b, c, d, qx, qy, qz] = q;
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  const R = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c],
  ];
  const qfac = pixdim[0] === -1 ? -1 : 1;
  const s = [pixdim[1] || 1, pixdim[2] || 1, (pixdim[3] || 1) * qfac];
  const t = [qx, qy, qz];
  return [...R.map((row, r) => [row[0]! * s[0]!, row[1]! * s[1]!, row[2]! * s[2]!, t[r]!]), [0, 0, 0, 1]];
}

/** The affine a NIfTI reader uses for these header fields (see the module comment). */
export function niftiAffine(g: NiftiGeometry): Affine {
  if (g.sformCode > 0) return [...g.srow.map((r) => [...r]), [0, 0, 0, 1]];
  if (g.qformCode > 0) return qformAffine(g.quatern, g.pixdim);
  return [
    [g.pixdim[1] || 1, 0, 0, 0],
    [0, g.pixdim[2] || 1, 0, 0],
    [0, 0, g.pixdim[3] || 1, 0],
    [0, 0, 0, 1],
  ];
}

/** CT when the values reach air in Hounsfield units and are whole numbers; MR otherwise. */
export function guessModality(data: Float32Array): Modality {
  let min = Infinity;
  let integral = true;
  const step = Math.max(1, Math.floor(data.length / 200_000));
  for (let i = 0; i < data.length; i += step) {
    const v = data[i]!;
    if (v < min) min = v;
    if (integral && v !== Math.round(v)) integral = false;
  }
  return min <= -500 && integral ? 'CT' : 'MR';
}

/** Parses NIfTI-1 bytes (already gunzipped) into a volume. */
export function parseNifti(path: string, buf: Buffer): Volume {
  if (buf.length < HEADER) throw bad(path, `NIfTI file of ${buf.length} bytes is shorter than its 348-byte header`);
  let le = true;
  if (buf.readInt32LE(0) !== HEADER) {
    if (buf.readInt32BE(0) !== HEADER) {
      if (buf.readInt32LE(0) === 540 || buf.readInt32BE(0) === 540) throw bad(path, 'NIfTI-2 files are not supported (NIfTI-1 is)', ErrorCode.E_INPUT_UNSUPPORTED);
      throw bad(path, 'not a NIfTI-1 file (sizeof_hdr is not 348)');
    }
    le = false;
  }
  const magic = buf.toString('latin1', 344, 347);
  if (magic === 'ni1') throw bad(path, 'a .hdr/.img NIfTI pair is not supported; use a single .nii or .nii.gz', ErrorCode.E_INPUT_UNSUPPORTED);
  if (magic !== 'n+1') throw bad(path, 'not a NIfTI-1 file (magic is not "n+1")');
  const i16 = (o: number) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o));
  const f32 = (o: number) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o));
  const dim = Array.from({ length: 8 }, (_, i) => i16(40 + 2 * i));
  const ndim = dim[0]!;
  if (ndim < 2 || ndim > 7) throw bad(path, `dim[0] is ${ndim}, expected 2..7`);
  const dims: [number, number, number] = [dim[1]!, ndim >= 2 ? dim[2]! : 1, ndim >= 3 ? dim[3]! : 1];
  if (dims.some((d) => !(d >= 1))) throw bad(path, `bad dimensions ${dims.join('x')}`);
  const datatype = i16(70);
  const dt = DATATYPES[datatype];
  if (!dt) throw bad(path, `NIfTI datatype ${datatype} is not supported (integers and floats are; RGB and complex are not)`, ErrorCode.E_INPUT_UNSUPPORTED);
  const voxOffset = Math.max(HEADER, Math.round(f32(108)));
  const n = dims[0] * dims[1] * dims[2];
  if (voxOffset + n * dt.bytes > buf.length) throw bad(path, `data ends early: ${dims.join('x')} ${dt.name} voxels need ${voxOffset + n * dt.bytes} bytes, the file has ${buf.length}`);
  const slope = f32(112);
  const inter = f32(116);
  const scaled = Number.isFinite(slope) && slope !== 0 && !(slope === 1 && (inter === 0 || !Number.isFinite(inter)));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const data = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const v = dt.read(view, voxOffset + p * dt.bytes, le);
    data[p] = scaled ? v * slope + (Number.isFinite(inter) ? inter : 0) : v;
  }
  const pixdim = Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i));
  const geometry: NiftiGeometry = {
    pixdim,
    qformCode: i16(252),
    sformCode: i16(254),
    quatern: [f32(256), f32(260), f32(264), f32(268), f32(272), f32(276)],
    srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f32(280 + 16 * r + 4 * c))) as [number[], number[], number[]],
    xyztUnits: buf[123]!,
  };
  const affine = niftiAffine(geometry);
  // Voxel size is the length of each affine column, which pixdim may not match (a bad writer).
  const spacing = [0, 1, 2].map((c) => Math.hypot(affine[0]![c]!, affine[1]![c]!, affine[2]![c]!)) as [number, number, number];
  return { path, format: 'nifti', dims, data, affine, spacing, modality: guessModality(data), nifti: geometry };
}

/** Reads a .nii or .nii.gz file. */
export function readNiftiVolume(path: string): Volume {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `input not found: ${path}`, { cause, details: { path } });
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (cause) {
      throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${path}: gzip data is damaged or truncated`, { cause, details: { path } });
    }
  }
  return parseNifti(path, raw);
}
