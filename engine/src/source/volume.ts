/**
 * A 3D scan (CT, MR) as cineseg holds it: one scalar per voxel in real units (Hounsfield units
 * after DICOM rescale or NIfTI scl_slope/scl_inter), the voxel grid's shape, and the affine that
 * maps voxel indices (i, j, k) to patient millimetres in RAS+ (the NIfTI convention; DICOM's LPS
 * is turned into it on reading). Voxel (i, j, k) sits at `data[i + nx * (j + ny * k)]`.
 *
 * A volume input is named by a path with an optional view suffix, `<path>#<plane>[:<window>]`
 * (`ct.nii.gz#coronal:lung`, `series/#axial:40,400`); see volume-slices.ts for planes and
 * windows. The suffix is read only when the whole string is not itself an existing path, so a
 * file whose name holds a `#` still opens.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CinesegError, ErrorCode } from '../errors.js';

/** 4x4 row-major matrix (voxel index → RAS mm); the last row is [0, 0, 0, 1]. */
export type Affine = number[][];

/** Where each slice of a DICOM series came from (k order), for references in a DICOM SEG. */
export interface DicomSeriesRefs {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid?: string;
  sopClassUid: string;
  /** Per slice k: the instance's SOP Instance UID and its Image Position (Patient), LPS mm. */
  instances: { sopInstanceUid: string; position: [number, number, number] }[];
  /** Image Orientation (Patient): row direction then column direction (LPS). */
  orientation: [number, number, number, number, number, number];
  /** Pixel Spacing as DICOM writes it: [between rows, between columns] mm. */
  pixelSpacing: [number, number];
  /** Distance between slice centres along the normal, mm. */
  sliceSpacing: number;
  /** The first slice's file, whose patient and study attributes a SEG copies. */
  firstFile: string;
}

/** The NIfTI header fields an export keeps so it lands in the input's voxel grid. */
export interface NiftiGeometry {
  /** pixdim[0..7] as stored (pixdim[0] is qfac). */
  pixdim: number[];
  qformCode: number;
  sformCode: number;
  /** quatern_b, quatern_c, quatern_d, qoffset_x, qoffset_y, qoffset_z. */
  quatern: [number, number, number, number, number, number];
  /** srow_x, srow_y, srow_z. */
  srow: [number[], number[], number[]];
  xyztUnits: number;
}

export type Modality = 'CT' | 'MR' | 'OT';

export interface Volume {
  /** The file (NIfTI) or folder (DICOM series) it was read from, absolute. */
  path: string;
  format: 'nifti' | 'dicom-series';
  dims: [number, number, number];
  /** Real values, voxel (i, j, k) at i + nx * (j + ny * k). */
  data: Float32Array;
  affine: Affine;
  /** Voxel size along i, j, k in mm. */
  spacing: [number, number, number];
  modality: Modality;
  nifti?: NiftiGeometry;
  dicom?: DicomSeriesRefs;
}

/** A volume input string taken apart. */
export interface VolumeSpec {
  /** Absolute path of the file or folder. */
  path: string;
  plane?: string;
  window?: string;
}

/** True for names NIfTI readers take (.nii, .nii.gz). */
export function isNiftiName(p: string): boolean {
  return /\.nii(\.gz)?$/i.test(p);
}

/** True when `dir` is a folder holding at least one DICOM Part 10 file and no png/jpg frames. */
export function isDicomSeriesFolder(dir: string): boolean {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return false;
  }
  if (names.some((n) => /\.(png|jpe?g)$/i.test(n))) return false;
  return names.some((n) => !n.startsWith('.') && hasDicmPreamble(resolvePath(dir, n)));
}

function hasDicmPreamble(p: string): boolean {
  try {
    const st = statSync(p);
    if (!st.isFile() || st.size < 132) return false;
    const fd = readFileHead(p, 132);
    return fd.toString('latin1', 128, 132) === 'DICM';
  } catch {
    return false;
  }
}

function readFileHead(p: string, n: number): Buffer {
  // Synchronous on purpose: a folder check reads 132 bytes of a few files, once per open.
  const fd = openSync(p, 'r');
  try {
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, 0);
    return b;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `<path>[#plane[:window]]` as a volume input, or returns null when it is not one (any
 * other file, an image folder, a URL). The path part must exist.
 */
export function parseVolumeSpec(input: string): VolumeSpec | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input) && !input.startsWith('file://')) return null;
  const whole = input.startsWith('file://') ? fileURLToPath(input) : input;
  let path = whole;
  let suffix: string | undefined;
  if (!existsSync(whole)) {
    const at = whole.lastIndexOf('#');
    if (at <= 0) return null;
    path = whole.slice(0, at);
    suffix = whole.slice(at + 1);
  }
  const abs = resolvePath(path);
  if (!existsSync(abs)) return null;
  const isVolume = statSync(abs).isDirectory() ? isDicomSeriesFolder(abs) : isNiftiName(abs);
  if (!isVolume) return null;
  if (suffix === undefined) return { path: abs };
  const colon = suffix.indexOf(':');
  const plane = colon < 0 ? suffix : suffix.slice(0, colon);
  const window = colon < 0 ? undefined : suffix.slice(colon + 1);
  if (window !== undefined && window === '') throw new CinesegError(ErrorCode.E_USAGE, `volume input "${input}": empty window after ':'`);
  return { path: abs, ...(plane ? { plane } : {}), ...(window ? { window } : {}) };
}
