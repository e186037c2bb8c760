/**
 * YouTube-VIS JSON export: the `cineseg track` shape, every mask as compressed COCO RLE (an input
 * with explicit counts is compressed), so the file reads back with `readVisJson` and pycocotools.
 */
import { toCompressed } from '../mask/rle.js';
import { writeVisJson, type VisJson } from '../mask/vis-json.js';

/** The VIS result with every segmentation in compressed RLE form. */
export function normalizeVis(vis: VisJson): VisJson {
  return {
    ...vis,
    annotations: vis.annotations.map((a) => ({ ...a, segmentations: a.segmentations.map((s) => (s ? toCompressed(s) : null)) })),
  };
}

/** Writes YouTube-VIS JSON to `out`. */
export function exportVis(vis: VisJson, out: string): void {
  writeVisJson(out, normalizeVis(vis));
}
