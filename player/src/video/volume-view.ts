/**
 * Volume views in the player (pure, no React): which plane and window a volume clip is shown in,
 * the clip id and HLS playlist of that view, the voxel spacing of its slices and the aspect ratio
 * its picture is drawn at. The server names a view `<volume id>#<plane>[:<window>]` (clip-catalog.ts)
 * and stores each view as a clip of its own, so a view change is a new session.
 *
 * Planes are patient-space planes (source/volume-slices.ts): axial shows patient x, y and steps
 * through z; coronal x, z through y; sagittal y, z through x. The spacing listed for one plane
 * therefore gives every plane's by permuting, with no geometry of the file needed here.
 */
import type { ClipInfo } from '../../../engine/src/protocol.js';

export type VolumeInfo = NonNullable<ClipInfo['volume']>;

export interface VolumeView {
  plane: string;
  /** A preset name, `auto`, or absent for the server's default (soft-tissue on CT, auto on MR). */
  window?: string;
}

/** Patient axis (0 = x, 1 = y, 2 = z) along column, row and frame of each plane. */
const PLANE_AXES: Record<string, [number, number, number]> = {
  axial: [0, 1, 2],
  coronal: [0, 2, 1],
  sagittal: [1, 2, 0],
};

/** mm per column, per row and between slices of `plane`, from the spacing listed for `volume.plane`. */
export function viewSpacing(volume: VolumeInfo, plane: string): [number, number, number] {
  const from = PLANE_AXES[volume.plane];
  const to = PLANE_AXES[plane];
  if (!from || !to) return volume.spacingMm;
  const patient = [0, 0, 0];
  from.forEach((axis, d) => (patient[axis] = volume.spacingMm[d]!));
  return [patient[to[0]]!, patient[to[1]]!, patient[to[2]]!];
}

/**
 * Width / height the picture is drawn at: pixels stretched by their spacing, so a coronal slice
 * of 2.5 mm rows under 0.8 mm columns is not squashed to a third of its height.
 */
export function displayAspect(width: number, height: number, spacing: readonly number[]): number {
  const sx = spacing[0]! > 0 ? spacing[0]! : 1;
  const sy = spacing[1]! > 0 ? spacing[1]! : 1;
  return (width * sx) / (height * sy);
}

/** The view a session's clip id names (`…#coronal:liver`), or null for a clip that is not a view. */
export function parseViewId(id: string): { base: string; view: VolumeView } | null {
  const m = /^(.*)#([a-z]+)(?::([^#:]+))?$/.exec(id);
  if (!m || !PLANE_AXES[m[2]!]) return null;
  return { base: m[1]!, view: { plane: m[2]!, ...(m[3] ? { window: m[3] } : {}) } };
}

/** The listed volume clip a stored view belongs to (a reopened session names the view, not the listed `#axial` id). */
export function listedClipOf(clips: readonly ClipInfo[], id: string): { clip: ClipInfo; view?: VolumeView } | null {
  const direct = clips.find((c) => c.id === id);
  if (direct) return { clip: direct };
  const v = parseViewId(id);
  if (!v) return null;
  const clip = clips.find((c) => c.volume && parseViewId(c.id)?.base === v.base);
  return clip ? { clip, view: v.view } : null;
}

/** The HLS playlist of the session's view: the listed clip's own unless the session shows another view. */
export function hlsUrlOf(clip: ClipInfo, sessionClip: string | null): string {
  return sessionClip && sessionClip !== clip.id ? `/hls/${encodeURIComponent(sessionClip)}/index.m3u8` : clip.hlsUrl;
}
