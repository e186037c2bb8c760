/**
 * Which part of a result an export writes: some objects (`--object 1,3`, `objects=1,3`) and a
 * frame range (`--frames 10-40`, `frames=10-40`, both ends included, 0-based). The CLI and the
 * HTTP export route parse with the same functions and filter with {@link filterVis}, so a
 * download from the page and `cineseg export` of the same session write the same file.
 *
 * Frames outside the range keep their place (the video's length and every frame index stay as
 * in the clip, so NIfTI slices and DICOM SEG frames still line up with the source) but lose their
 * masks; the per-frame formats (PNG, COCO images) write only the frames inside it.
 */
import { CinesegError, ErrorCode } from '../errors.js';
import type { VisJson } from '../mask/vis-json.js';

export interface ExportFilter {
  /** Object ids to keep (default: all). */
  objects?: readonly number[];
  /** [first, last] frame, both included (default: every frame). */
  frames?: readonly [number, number];
}

function bad(message: string): CinesegError {
  return new CinesegError(ErrorCode.E_EXPORT_FILTER, message);
}

/** `1,3` → [1, 3]. @throws CinesegError E_EXPORT_FILTER */
export function parseObjectList(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.length > 1024 || parts.some((p) => !/^\d{1,9}$/.test(p))) {
    throw bad(`objects must be object ids separated by commas (e.g. 1,3), got "${text.slice(0, 64)}"`);
  }
  return [...new Set(parts.map(Number))];
}

/** `10-40` → [10, 40]; `7` → [7, 7]. @throws CinesegError E_EXPORT_FILTER */
export function parseFrameRange(text: string): [number, number] {
  const m = /^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$/.exec(text);
  if (!m) throw bad(`frames must be <first>-<last> (0-based, both included, e.g. 10-40), got "${text.slice(0, 64)}"`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw bad(`frames ${a}-${b}: the last frame comes before the first`);
  return [a, b];
}

/**
 * The result with only the chosen objects and only masks inside the frame range; the range is
 * clamped to the video and recorded in `info.exportFilter`.
 * @throws CinesegError E_EXPORT_FILTER when an object id is not in the result or the range starts past the end
 */
export function filterVis(vis: VisJson, filter: ExportFilter): VisJson {
  if (!filter.objects && !filter.frames) return vis;
  const video = vis.videos[0]!;
  let annotations = vis.annotations;
  if (filter.objects) {
    const have = new Set(annotations.map((a) => a.object_id));
    const missing = filter.objects.filter((o) => !have.has(o));
    if (missing.length) throw bad(`no object ${missing.join(', ')} in this result (it has ${[...have].sort((x, y) => x - y).join(', ') || 'none'})`);
    const keep = new Set(filter.objects);
    annotations = annotations.filter((a) => keep.has(a.object_id));
  }
  let frames: [number, number] | undefined;
  if (filter.frames) {
    const [a, b] = filter.frames;
    if (a >= video.length) throw bad(`frames ${a}-${b}: the clip has ${video.length} frames (0-${video.length - 1})`);
    frames = [a, Math.min(b, video.length - 1)];
    const inside = (t: number) => t >= frames![0] && t <= frames![1];
    annotations = annotations.map((an) => ({
      ...an,
      segmentations: an.segmentations.map((s, t) => (inside(t) ? s : null)),
      ...(an.scores ? { scores: an.scores.map((s, t) => (inside(t) ? s : null)) } : {}),
      ...(an.areas ? { areas: an.areas.map((s, t) => (inside(t) ? s : null)) } : {}),
    }));
  }
  const used = new Set(annotations.map((a) => a.category_id));
  return {
    ...vis,
    info: { ...(vis.info ?? {}), exportFilter: { ...(filter.objects ? { objects: [...filter.objects] } : {}), ...(frames ? { frames } : {}) } },
    categories: (vis.categories ?? []).filter((c) => used.has(c.id)),
    annotations,
  };
}

/** The frame range a filtered result was cut to (from `info.exportFilter`), or null for all frames. */
export function exportedFrames(vis: VisJson): [number, number] | null {
  const f = (vis.info?.exportFilter as { frames?: [number, number] } | undefined)?.frames;
  return Array.isArray(f) && f.length === 2 ? [f[0], f[1]] : null;
}
