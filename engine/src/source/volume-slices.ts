/**
 * A volume seen as a clip: the slices of one plane, windowed to 8-bit gray, in frame order.
 *
 * Planes are defined in patient space, not by the file's voxel order, so a volume stored in any
 * orientation shows the same picture (radiological convention, as DICOM viewers show it):
 * - axial: column → patient left, row → posterior, frame → superior (frame 0 at the feet);
 * - coronal: column → left, row → inferior, frame → anterior;
 * - sagittal: column → posterior, row → inferior, frame → patient left.
 * Each display axis takes the voxel axis whose affine column points most along its patient axis,
 * flipped when it points the other way; a slice pixel is one voxel (no resampling), so masks map
 * back to the voxel grid exactly. (Coronal and sagittal pixels are as wide as the voxels are:
 * the spacing travels with the clip so a viewer can stretch them.)
 *
 * Windows: CT presets by name (soft-tissue 40/400 is the default, lung, bone, brain, liver), `<c>,<w>`
 * for any centre and width, or `auto` (the 0.5th–99.5th percentile, the MR default, as MR has no
 * absolute units). The model sees the 8-bit slice replicated to RGB, as MedSAM2 feeds CT.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import { statSync } from 'node:fs';
import { readDicomSeries } from './dicom-series.js';
import { readNiftiVolume } from './nifti-volume.js';
import { parseVolumeSpec, type Volume } from './volume.js';

export const PLANES = ['axial', 'coronal', 'sagittal'] as const;
export type Plane = (typeof PLANES)[number];

export interface WindowLevel {
  name: string;
  center: number;
  width: number;
}

/** CT window presets (centre / width in HU). */
export const CT_WINDOWS: readonly WindowLevel[] = [
  { name: 'soft-tissue', center: 40, width: 400 },
  { name: 'lung', center: -600, width: 1500 },
  { name: 'bone', center: 400, width: 1800 },
  { name: 'brain', center: 40, width: 80 },
  // A narrow abdominal window: liver lesions stand out (and the tiny model finds them far better).
  { name: 'liver', center: 60, width: 150 },
];

/** Frame rate given to a volume's slices (a volume has no time; the player steps through it). */
export const VOLUME_FPS = 10;

/** For each plane: the patient (RAS) axis and direction of column, row and frame. */
const TARGETS: Record<Plane, [[number, number], [number, number], [number, number]]> = {
  axial: [
    [0, -1],
    [1, -1],
    [2, 1],
  ],
  coronal: [
    [0, -1],
    [2, -1],
    [1, 1],
  ],
  sagittal: [
    [1, -1],
    [2, -1],
    [0, -1],
  ],
};

/** How one plane's slices index the voxel grid. */
export interface PlaneView {
  plane: Plane;
  width: number;
  height: number;
  /** Number of slices (frames). */
  depth: number;
  /** Voxel axis (0 = i, 1 = j, 2 = k) shown along column, row and frame. */
  axes: [number, number, number];
  flips: [boolean, boolean, boolean];
  /** mm per column, per row, between frames. */
  spacingMm: [number, number, number];
  /** Voxel dims of the volume. */
  dims: [number, number, number];
}

export function checkPlane(plane: string | undefined): Plane {
  const p = plane ?? 'axial';
  if (!(PLANES as readonly string[]).includes(p)) throw new CinesegError(ErrorCode.E_USAGE, `unknown plane "${p}"; choose one of ${PLANES.join(', ')}`);
  return p as Plane;
}

/** The view of `plane` (see the module comment). */
export function planeView(vol: Pick<Volume, 'affine' | 'dims' | 'spacing'>, plane: Plane): PlaneView {
  // Each voxel axis's dominant patient axis; ties (an exactly 45° tilt) go to the first free one.
  const used = new Set<number>();
  const worldOf: { w: number; sign: number }[] = [];
  for (let a = 0; a < 3; a++) {
    const col = [0, 1, 2].map((w) => vol.affine[w]![a]!);
    const order = [0, 1, 2].sort((x, y) => Math.abs(col[y]!) - Math.abs(col[x]!));
    const w = order.find((x) => !used.has(x))!;
    used.add(w);
    worldOf.push({ w, sign: Math.sign(col[w]!) || 1 });
  }
  const axes = [0, 0, 0] as [number, number, number];
  const flips = [false, false, false] as [boolean, boolean, boolean];
  TARGETS[plane].forEach(([w, s], d) => {
    const a = worldOf.findIndex((x) => x.w === w);
    axes[d] = a;
    flips[d] = worldOf[a]!.sign !== s;
  });
  const dims = vol.dims;
  return {
    plane,
    width: dims[axes[0]]!,
    height: dims[axes[1]]!,
    depth: dims[axes[2]]!,
    axes,
    flips,
    spacingMm: [vol.spacing[axes[0]]!, vol.spacing[axes[1]]!, vol.spacing[axes[2]]!],
    dims: [...dims] as [number, number, number],
  };
}

/**
 * Calls `fn(pixel, voxel)` for every pixel of slice `frame` (pixel = row * width + col, voxel =
 * i + nx * (j + ny * k)).
 */
export function forEachSliceVoxel(view: PlaneView, frame: number, fn: (pixel: number, voxel: number) => void): void {
  const [nx, ny] = view.dims;
  const stride = [1, nx, nx * ny];
  const { axes, flips, width, height, depth } = view;
  const f = flips[2] ? depth - 1 - frame : frame;
  const base = f * stride[axes[2]]!;
  const sc = stride[axes[0]]!;
  const sr = stride[axes[1]]!;
  for (let r = 0; r < height; r++) {
    const rr = flips[1] ? height - 1 - r : r;
    const rowBase = base + rr * sr;
    for (let c = 0; c < width; c++) {
      const cc = flips[0] ? width - 1 - c : c;
      fn(r * width + c, rowBase + cc * sc);
    }
  }
}

/** The windows offered for a volume: the CT presets for CT, else only `auto`. */
export function windowsFor(vol: Pick<Volume, 'modality'>): WindowLevel[] {
  return vol.modality === 'CT' ? [...CT_WINDOWS] : [];
}

/** Centre and width from the 0.5th–99.5th percentile of the values (sampled). */
export function autoWindow(data: Float32Array): WindowLevel {
  const step = Math.max(1, Math.floor(data.length / 100_000));
  const sample: number[] = [];
  for (let i = 0; i < data.length; i += step) sample.push(data[i]!);
  sample.sort((a, b) => a - b);
  const lo = sample[Math.floor(0.005 * (sample.length - 1))] ?? 0;
  const hi = sample[Math.ceil(0.995 * (sample.length - 1))] ?? 1;
  return { name: 'auto', center: (lo + hi) / 2, width: Math.max(hi - lo, 1e-6) };
}

/** Resolves a window name, `<centre>,<width>` or `auto`; the default is soft-tissue for CT, auto otherwise. */
export function resolveWindow(vol: Pick<Volume, 'modality' | 'data'>, spec?: string): WindowLevel {
  if (spec === undefined) return vol.modality === 'CT' ? CT_WINDOWS[0]! : autoWindow(vol.data);
  if (spec === 'auto') return autoWindow(vol.data);
  const preset = CT_WINDOWS.find((w) => w.name === spec);
  if (preset) return preset;
  const m = /^(-?\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$/.exec(spec);
  if (m && Number(m[2]) > 0) return { name: spec, center: Number(m[1]), width: Number(m[2]) };
  throw new CinesegError(ErrorCode.E_USAGE, `unknown window "${spec}"; use auto, ${CT_WINDOWS.map((w) => w.name).join(', ')} or <centre>,<width>`);
}

/** Slice `frame` of the view windowed to 8-bit gray (W x H, row-major) into `out`. */
export function renderSlice(vol: Pick<Volume, 'data'>, view: PlaneView, frame: number, win: WindowLevel, out: Uint8Array): Uint8Array {
  const lo = win.center - win.width / 2;
  const scale = 255 / win.width;
  const d = vol.data;
  forEachSliceVoxel(view, frame, (p, v) => {
    const x = (d[v]! - lo) * scale;
    out[p] = x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x);
  });
  return out;
}

/** Reads a NIfTI file or DICOM series folder; the last few are remembered while unchanged. */
const cache = new Map<string, { mtimeMs: number; size: number; vol: Volume }>();
const CACHE_MAX = 3;

export function loadVolume(path: string): Volume {
  let st;
  try {
    st = statSync(path);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `input not found: ${path}`, { cause, details: { path } });
  }
  const hit = cache.get(path);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.vol;
  const vol = st.isDirectory() ? readDicomSeries(path) : readNiftiVolume(path);
  cache.delete(path);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(path, { mtimeMs: st.mtimeMs, size: st.size, vol });
  return vol;
}

/** What a volume input shows: the volume, its plane's view and the window. */
export interface VolumeClip {
  volume: Volume;
  view: PlaneView;
  window: WindowLevel;
}

/** Opens a volume input string (`<path>[#plane[:window]]`), or null when it is no volume. */
export function openVolumeInput(input: string): VolumeClip | null {
  const spec = parseVolumeSpec(input);
  if (!spec) return null;
  const volume = loadVolume(spec.path);
  return { volume, view: planeView(volume, checkPlane(spec.plane)), window: resolveWindow(volume, spec.window) };
}

/**
 * Slices of a label volume in the same grid as `clip`'s volume, as mask prompts: one per
 * (slice, label value) with any voxel of that label. Refused when the grids differ.
 */
export function labelVolumePrompts(clip: VolumeClip, labelPath: string): { frame: number; label: number; mask: Uint8Array }[] {
  const labels = loadVolume(labelPath);
  const a = clip.volume;
  const sameDims = labels.dims.every((d, i) => d === a.dims[i]);
  const tol = 1e-3 * Math.max(1, ...a.spacing);
  const sameAffine = labels.affine.every((row, r) => row.every((v, c) => Math.abs(v - a.affine[r]![c]!) <= (c === 3 ? 100 * tol : tol)));
  if (!sameDims || !sameAffine) {
    throw new CinesegError(
      ErrorCode.E_MASK_INVALID,
      `${labelPath}: the label volume is not in the image's grid (${labels.dims.join('x')} vs ${a.dims.join('x')}${sameDims ? ', affines differ' : ''})`,
      {
        details: { labels: labels.dims, image: a.dims },
      },
    );
  }
  const out: { frame: number; label: number; mask: Uint8Array }[] = [];
  const { view } = clip;
  const plane = view.width * view.height;
  const slice = new Int32Array(plane);
  for (let t = 0; t < view.depth; t++) {
    const values = new Set<number>();
    forEachSliceVoxel(view, t, (p, v) => {
      const x = Math.round(labels.data[v]!);
      slice[p] = x;
      if (x > 0) values.add(x);
    });
    for (const label of [...values].sort((x, y) => x - y)) {
      const mask = new Uint8Array(plane);
      for (let p = 0; p < plane; p++) if (slice[p] === label) mask[p] = 1;
      out.push({ frame: t, label, mask });
    }
  }
  return out;
}

/**
 * Scatters per-slice label maps (the clip's frames, W x H each) back into the voxel grid:
 * `labelFrame(t, out)` fills slice t; the result is voxel-ordered.
 */
export function slicesToVoxels<T extends Uint8Array | Uint16Array>(view: PlaneView, make: (n: number) => T, labelFrame: (t: number, out: T) => void): T {
  const [nx, ny, nz] = view.dims;
  const voxels = make(nx * ny * nz);
  const slice = make(view.width * view.height);
  for (let t = 0; t < view.depth; t++) {
    slice.fill(0);
    labelFrame(t, slice);
    forEachSliceVoxel(view, t, (p, v) => {
      voxels[v] = slice[p]!;
    });
  }
  return voxels;
}

/**
 * The input string for `video` seen in `plane` with `window` (CLI `--plane` / `--window`);
 * refused when the input is no volume. Unchanged when neither is given.
 */
export function withVolumeView(video: string, plane?: string, window?: string): string {
  if (plane === undefined && window === undefined) return video;
  const spec = parseVolumeSpec(video);
  if (!spec) throw new CinesegError(ErrorCode.E_USAGE, `--plane and --window need a volume input (.nii, .nii.gz or a DICOM series folder), not ${video}`);
  const p = checkPlane(plane ?? spec.plane);
  const w = window ?? spec.window;
  return `${spec.path}#${p}${w ? `:${w}` : ''}`;
}

/**
 * Mask prompts from a label volume for a volume input: every labelled slice of the chosen plane,
 * label value = object id (CLI `--mask-volume`).
 */
export function maskVolumePrompts(video: string, labelPath: string): { objectId: number; frame: number; mask: Uint8Array }[] {
  const clip = openVolumeInput(video);
  if (!clip) throw new CinesegError(ErrorCode.E_USAGE, `--mask-volume needs a volume input (.nii, .nii.gz or a DICOM series folder), not ${video}`);
  return labelVolumePrompts(clip, labelPath).map((p) => ({ objectId: p.label, frame: p.frame, mask: p.mask }));
}
