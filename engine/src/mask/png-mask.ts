/**
 * Reads a PNG as a binary mask (nonzero = object) for `--mask` prompts. Handles what mask tools
 * write — gray, gray+alpha, RGB(A) and palette images (DAVIS masks are palette indices), 1–16 bit,
 * non-interlaced — with node's zlib, so no image library is needed.
 */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { CinesegError, ErrorCode } from '../errors.js';

export interface PngMask {
  width: number;
  height: number;
  /** Row-major, 1 = object. */
  mask: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function bad(path: string, why: string): CinesegError {
  return new CinesegError(ErrorCode.E_MASK_INVALID, `${path}: ${why}`, { details: { path } });
}

/**
 * Decodes a PNG file into a mask. With `value` set, only pixels whose gray level / palette index
 * equals it count (one object of a multi-object label map); otherwise any nonzero pixel.
 */
export function readPngMask(path: string, value?: number): PngMask {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `mask file not found: ${path}`, { cause, details: { path } });
  }
  return decodePngMask(buf, path, value);
}

/** {@link readPngMask} on bytes already in memory. */
export function decodePngMask(buf: Uint8Array, path = 'png', value?: number): PngMask {
  for (let i = 0; i < 8; i++) if (buf[i] !== SIGNATURE[i]) throw bad(path, 'not a PNG file');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = 0;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= buf.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(buf[pos + 4]!, buf[pos + 5]!, buf[pos + 6]!, buf[pos + 7]!);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      depth = buf[pos + 16]!;
      colorType = buf[pos + 17]!;
      if (buf[pos + 20] !== 0) throw bad(path, 'interlaced PNGs are not supported');
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  if (!width || !height) throw bad(path, 'missing IHDR');
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  if (!channels || ![1, 2, 4, 8, 16].includes(depth)) throw bad(path, `unsupported PNG colour type ${colorType} / depth ${depth}`);
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_MASK_INVALID, `${path}: corrupt PNG data`, { cause });
  }
  const bpp = Math.max(1, (channels * depth) >> 3);
  const stride = Math.ceil((width * channels * depth) / 8);
  if (raw.length < height * (stride + 1)) throw bad(path, 'truncated PNG data');
  const rows = new Uint8Array(height * stride);
  const prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = rows.subarray(y * stride, (y + 1) * stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let v = src[i]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw bad(path, `bad PNG filter ${filter}`);
      cur[i] = v & 255;
    }
    prev.set(cur);
  }
  const mask = new Uint8Array(width * height);
  const bytesPerSample = depth === 16 ? 2 : 1;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    for (let x = 0; x < width; x++) {
      let on: boolean;
      if (depth < 8) {
        const bit = x * depth;
        const v = (rows[row + (bit >> 3)]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
        on = value === undefined ? v !== 0 : v === value;
      } else {
        // Colour channels only; alpha alone does not make a pixel part of the object.
        const colour = colorType === 4 || colorType === 6 ? channels - 1 : channels;
        const base = row + x * channels * bytesPerSample;
        on = false;
        for (let c = 0; c < colour; c++) {
          const v = bytesPerSample === 2 ? (rows[base + 2 * c]! << 8) | rows[base + 2 * c + 1]! : rows[base + c]!;
          if (value === undefined ? v !== 0 : v === value) on = true;
        }
      }
      mask[y * width + x] = on ? 1 : 0;
    }
  }
  return { width, height, mask };
}
