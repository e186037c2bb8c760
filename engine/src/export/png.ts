/**
 * PNG mask sequences: one 8-bit indexed (palette) PNG per frame, pixel value = the object's label
 * value (1..N in object-id order, 0 = background; see label-map.ts for overlaps), plus
 * `labels.json` mapping values to object ids and categories. The same mapping is embedded in every
 * PNG as a `tEXt` chunk keyed "cineseg-labels", so a lone frame still says what its values mean.
 * Encoded with node's zlib: no image library.
 */
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { CinesegError, ErrorCode } from '../errors.js';
import type { VisJson } from '../mask/vis-json.js';
import { binaryLabeler, planLabels, type FrameLabeler, type LabelEntry, type LabelPlan } from './label-map.js';
import { exportedFrames } from './filter.js';
import { writeJson, writeOutput } from './output.js';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) running state: start 0xffffffff, finish with `^ 0xffffffff` (PNG chunks, zip entries). */
export function crc32(bytes: Uint8Array, crc = 0xffffffff): number {
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  const crc = crc32(data, crc32(Buffer.from(type, 'latin1'))) ^ 0xffffffff;
  out.writeUInt32BE(crc >>> 0, 8 + data.length);
  return out;
}

/** A distinct color per label value (value 0 black); golden-angle hues so neighbours differ. */
export function paletteColor(value: number): [number, number, number] {
  if (value === 0) return [0, 0, 0];
  const h = (value * 137.508) % 360;
  const f = (n: number) => {
    const k = (n + h / 60) % 6;
    return Math.round(255 * (1 - 0.85 * Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

/**
 * Encodes a W x H label map (values < 256) as an indexed PNG with `paletteSize` entries and an
 * optional tEXt chunk.
 */
export function encodeIndexedPng(labels: Uint8Array, width: number, height: number, paletteSize: number, text?: { key: string; value: string }): Buffer {
  if (labels.length !== width * height) throw new CinesegError(ErrorCode.E_MASK_INVALID, `label map has ${labels.length} pixels, expected ${width}x${height}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 3; // color type: indexed
  const n = Math.max(1, Math.min(256, paletteSize));
  const plte = Buffer.alloc(3 * n);
  for (let v = 0; v < n; v++) plte.set(paletteColor(v), 3 * v);
  // Each scanline starts with filter type 0 (None): label maps compress well without filtering.
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(labels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('PLTE', plte)];
  if (text) parts.push(chunk('tEXt', Buffer.from(`${text.key}\0${text.value}`, 'latin1')));
  parts.push(chunk('IDAT', deflateSync(raw, { level: 6 })), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** Encodes row-major 8-bit grey pixels (width * height bytes) as a PNG file (prompt masks). */
export function encodeGrayPng(pixels: Uint8Array, width: number, height: number): Buffer {
  if (pixels.length !== width * height) throw new CinesegError(ErrorCode.E_MASK_INVALID, `expected ${width * height} pixels, got ${pixels.length}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // color type: greyscale
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

/** File name of frame i in a PNG sequence. */
export function pngFrameName(i: number): string {
  return `frame_${String(i).padStart(6, '0')}.png`;
}

/** What `labels.json` holds. */
export interface PngLabelsFile {
  width: number;
  height: number;
  frames: number;
  fps: number;
  files: string[];
  labels: LabelEntry[];
}

/** Options of the label-map exporters. */
export interface LabelMapExportOptions {
  /**
   * Where the label maps come from: default the VIS masks (overlaps by per-frame score, see
   * label-map.ts); a tracking run passes `LogitLabelMaps#labeler` to decide overlaps by logits.
   */
  labels?: (plan: LabelPlan) => FrameLabeler;
}

/** Writes `outDir/frame_000000.png …` (every frame, empty ones all zero) and `outDir/labels.json`. */
export function exportPng(vis: VisJson, outDir: string, opts: LabelMapExportOptions = {}): PngLabelsFile {
  const plan = planLabels(vis);
  const labelFrame = (opts.labels ?? binaryLabeler)(plan);
  const { width, height, length } = plan.video;
  if (plan.labels.length > 255) throw new CinesegError(ErrorCode.E_USAGE, `PNG label maps hold at most 255 objects, this result has ${plan.labels.length}`);
  const text = { key: 'cineseg-labels', value: JSON.stringify(plan.labels.map((l) => ({ value: l.value, object_id: l.objectId, category_id: l.categoryId }))) };
  const map = new Uint8Array(width * height);
  const files: string[] = [];
  // A result cut to a frame range (filter.ts) writes only those frames, named by their clip index.
  const [first, last] = exportedFrames(vis) ?? [0, length - 1];
  for (let t = first; t <= last; t++) {
    labelFrame(t, map);
    const name = pngFrameName(t);
    writeOutput(join(outDir, name), encodeIndexedPng(map, width, height, plan.labels.length + 1, text));
    files.push(name);
  }
  const meta: PngLabelsFile = { width, height, frames: length, fps: plan.video.fps, files, labels: plan.labels };
  writeJson(join(outDir, 'labels.json'), meta);
  return meta;
}
