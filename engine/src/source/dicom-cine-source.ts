/**
 * DICOM cine (ultrasound multi-frame and other single-file multi-frame images) as a source like any
 * file. The file is parsed with dcmjs; its frames are decoded here (native pixel data in the common
 * photometric interpretations, RLE Lossless) or handed to ffmpeg as they are (JPEG baseline frames
 * are a motion-JPEG stream), and staged in a temporary file (JPEG: one file per frame) that ffmpeg reads with explicit size
 * and rate, so probing, decoding, scaling and seeking work as for any other file.
 *
 * Frame rate comes from the header: Frame Time (0018,1063), else the mean of Frame Time Vector
 * (0018,1065), else Cine Rate (0018,0040) / Recommended Display Frame Rate (0008,2144), else 30.
 * (ffmpeg's raw input has one rate; an uneven Frame Time Vector is averaged — the per-frame times
 * are in {@link DicomCineInfo.frameTimeVectorMs}.)
 *
 * Patient data: messages and `details` name the file path, transfer syntax and pixel layout only;
 * no element value other than UIDs and pixel-module numbers leaves this module, and dcmjs's own
 * logging is limited to errors while a file is parsed.
 */
import { createWriteStream } from 'node:fs';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dcmjs, { type NaturalDataset } from 'dcmjs';
import { checkFrameSize } from './frame-limits.js';
import { CinesegError, ErrorCode } from '../errors.js';
import type { ResolvedInput } from './resolved-input.js';
import { stagingDir } from './staging-dir.js';

const TS_IMPLICIT_LE = '1.2.840.10008.1.2';
const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
const TS_DEFLATED_LE = '1.2.840.10008.1.2.1.99';
const TS_EXPLICIT_BE = '1.2.840.10008.1.2.2';
const TS_RLE = '1.2.840.10008.1.2.5';
const TS_JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

export type DicomPixelEncoding = 'native' | 'rle' | 'jpeg-baseline';

/**
 * DICOM identifiers of a clip that came from a DICOM file (never patient identifiers). Defined here,
 * where they are read; the store keeps them with the clip (source/ imports nothing from store/).
 */
export interface ClipDicomRefs {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  frameOfReferenceUid?: string;
  /** Pixel spacing in mm [row, column], when the file states it. */
  pixelSpacing?: [number, number];
}

/** What a DICOM cine holds, without patient data. */
export interface DicomCineInfo {
  width: number;
  height: number;
  numFrames: number;
  fps: number;
  /** Frame interval in ms (Frame Time, or the mean of the vector). */
  frameTimeMs: number;
  /** Where the rate came from. */
  rateSource: 'FrameTime' | 'FrameTimeVector' | 'CineRate' | 'RecommendedDisplayFrameRate' | 'default';
  /** Per-frame intervals in ms (first is 0) when the file has a Frame Time Vector. */
  frameTimeVectorMs?: number[];
  transferSyntaxUid: string;
  encoding: DicomPixelEncoding;
  photometric: string;
  samplesPerPixel: number;
  bitsAllocated: number;
  refs: ClipDicomRefs;
}

/** True when the file carries the DICOM Part 10 preamble ("DICM" at byte 128). */
export async function isDicomFile(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 128);
    return bytesRead === 4 && b.toString('latin1') === 'DICM';
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

function unsupported(path: string, why: string, details: Record<string, unknown> = {}): CinesegError {
  return new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `${path}: ${why}`, { details: { path, ...details } });
}

/**
 * dcmjs reads a value past the end of a truncated file without complaint, so check the pixel data
 * element against the file's size: a defined length must fit, an encapsulated one must end with
 * its sequence delimiter. (Little endian transfer syntaxes; the last (7FE0,0010) tag is taken.)
 */
function pixelDataComplete(buf: Buffer): boolean {
  const tag = Buffer.from([0xe0, 0x7f, 0x10, 0x00]);
  const at = buf.lastIndexOf(tag);
  if (at < 0) return false;
  const vr = buf.toString('latin1', at + 4, at + 6);
  const explicit = vr === 'OB' || vr === 'OW';
  const lenAt = explicit ? at + 8 : at + 4;
  if (lenAt + 4 > buf.length) return false;
  const len = buf.readUInt32LE(lenAt);
  if (len === 0xffffffff) {
    const end = buf.length - 8;
    return end > lenAt && buf.readUInt32LE(end) === 0xe0ddfffe && buf.readUInt32LE(end + 4) === 0;
  }
  return lenAt + 4 + len <= buf.length;
}

/** Parses a Part 10 file; failures never quote the parser (its messages can carry values). */
function parse(path: string, buf: Buffer, headerOnly: boolean): { ds: NaturalDataset; ts: string } {
  const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
  const level = dcmjs.log.getLevel();
  dcmjs.log.setLevel('error');
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    const dict = DicomMessage.readFile(ab, headerOnly ? { untilTag: '7FE00010', includeUntilTagValue: false } : {});
    const meta = DicomMetaDictionary.naturalizeDataset(dict.meta);
    if (!headerOnly && String(meta.TransferSyntaxUID) !== TS_EXPLICIT_BE && !pixelDataComplete(buf)) throw new Error('truncated');
    return { ds: DicomMetaDictionary.naturalizeDataset(dict.dict), ts: String(meta.TransferSyntaxUID ?? TS_IMPLICIT_LE) };
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${path}: not a readable DICOM file (damaged or truncated)`, { cause: new Error('DICOM parse failed'), details: { path } });
  } finally {
    dcmjs.log.setLevel(level);
  }
}

const num = (v: unknown): number | undefined => {
  const x = Array.isArray(v) ? Number(v[0]) : Number(v);
  return v === undefined || v === null || v === '' || !Number.isFinite(x) ? undefined : x;
};
const uid = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function describe(path: string, ds: NaturalDataset, ts: string): DicomCineInfo {
  const width = num(ds.Columns) ?? 0;
  const height = num(ds.Rows) ?? 0;
  if (!(width > 0 && height > 0)) throw unsupported(path, 'DICOM file has no image (Rows/Columns missing)');
  // Frames are decoded here, in this process: a header's size is refused before a plane of it exists.
  checkFrameSize(path, width, height);
  if (ds.PixelData === undefined) throw unsupported(path, 'DICOM file has no pixel data');
  const numFrames = num(ds.NumberOfFrames) ?? 1;
  let encoding: DicomPixelEncoding;
  if (ts === TS_IMPLICIT_LE || ts === TS_EXPLICIT_LE || ts === TS_DEFLATED_LE || ts === TS_EXPLICIT_BE) encoding = 'native';
  else if (ts === TS_RLE) encoding = 'rle';
  else if (ts === TS_JPEG_BASELINE) encoding = 'jpeg-baseline';
  else throw unsupported(path, `transfer syntax ${ts} is not supported (uncompressed, RLE Lossless and JPEG baseline are)`, { transferSyntaxUid: ts });

  let rateSource: DicomCineInfo['rateSource'] = 'default';
  let frameTimeMs = 1000 / 30;
  let frameTimeVectorMs: number[] | undefined;
  const ft = num(ds.FrameTime);
  const vec = Array.isArray(ds.FrameTimeVector) ? (ds.FrameTimeVector as unknown[]).map(Number).filter(Number.isFinite) : undefined;
  if (ft && ft > 0) {
    frameTimeMs = ft;
    rateSource = 'FrameTime';
  } else if (vec && vec.length > 1 && vec.slice(1).some((x) => x > 0)) {
    frameTimeVectorMs = vec;
    const rest = vec.slice(1);
    frameTimeMs = rest.reduce((a, b) => a + b, 0) / rest.length;
    rateSource = 'FrameTimeVector';
  } else if ((num(ds.CineRate) ?? 0) > 0) {
    frameTimeMs = 1000 / num(ds.CineRate)!;
    rateSource = 'CineRate';
  } else if ((num(ds.RecommendedDisplayFrameRate) ?? 0) > 0) {
    frameTimeMs = 1000 / num(ds.RecommendedDisplayFrameRate)!;
    rateSource = 'RecommendedDisplayFrameRate';
  }
  if (vec && !frameTimeVectorMs && vec.length > 1) frameTimeVectorMs = vec;
  const ps = ds.PixelSpacing ?? ds.ImagerPixelSpacing ?? ultrasoundRegionSpacing(ds);
  const refs: ClipDicomRefs = {
    studyInstanceUid: uid(ds.StudyInstanceUID) ?? '',
    seriesInstanceUid: uid(ds.SeriesInstanceUID) ?? '',
    sopInstanceUid: uid(ds.SOPInstanceUID) ?? '',
    sopClassUid: uid(ds.SOPClassUID) ?? '',
    ...(uid(ds.FrameOfReferenceUID) ? { frameOfReferenceUid: uid(ds.FrameOfReferenceUID)! } : {}),
    ...(Array.isArray(ps) && ps.length === 2 && ps.every((x) => Number(x) > 0) ? { pixelSpacing: [Number(ps[0]), Number(ps[1])] as [number, number] } : {}),
  };
  return {
    width,
    height,
    numFrames,
    fps: 1000 / frameTimeMs,
    frameTimeMs,
    rateSource,
    ...(frameTimeVectorMs ? { frameTimeVectorMs } : {}),
    transferSyntaxUid: ts,
    encoding,
    photometric: String(ds.PhotometricInterpretation ?? 'MONOCHROME2').trim(),
    samplesPerPixel: num(ds.SamplesPerPixel) ?? 1,
    bitsAllocated: num(ds.BitsAllocated) ?? 8,
    refs,
  };
}

/** Physical Units X/Y Direction (0018,6024 / 0018,6026) value for centimetres (PS3.3 C.8.5.5.1.1). */
const UNITS_CM = 3;

/**
 * Pixel spacing in mm [row, column] from the Sequence of Ultrasound Regions (0018,6011): an
 * ultrasound cine rarely has Pixel Spacing, but its image region states Physical Delta X/Y
 * (0018,602C / 0018,602E) in the units Physical Units X/Y Direction give — centimetres for a
 * B-mode region. The first region in cm on both axes is taken (a Doppler strip's axes are time
 * and velocity, not length); none: undefined.
 */
function ultrasoundRegionSpacing(ds: NaturalDataset): [number, number] | undefined {
  const regions = (ds as Record<string, unknown>).SequenceOfUltrasoundRegions;
  const list = Array.isArray(regions) ? regions : regions && typeof regions === 'object' ? [regions] : [];
  for (const r of list as Record<string, unknown>[]) {
    const dx = Number(r.PhysicalDeltaX);
    const dy = Number(r.PhysicalDeltaY);
    if (Number(r.PhysicalUnitsXDirection) !== UNITS_CM || Number(r.PhysicalUnitsYDirection) !== UNITS_CM) continue;
    if (!(dx > 0) || !(dy > 0) || !Number.isFinite(dx) || !Number.isFinite(dy)) continue;
    return [dy * 10, dx * 10];
  }
  return undefined;
}

async function readWhole(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `input not found: ${path}`, { cause, details: { path } });
  }
}

/** Reads a DICOM file's header (no pixel data) and describes its frames. */
export async function readDicomCineInfo(path: string): Promise<DicomCineInfo> {
  const { ds, ts } = parse(path, await readWhole(path), false);
  return describe(path, ds, ts);
}

/** Decodes one RLE Lossless frame (PS3.5 Annex G) into its byte segments (one per sample plane). */
export function decodeDicomRleFrame(frame: Uint8Array, planeBytes: number): Uint8Array[] {
  if (frame.length < 64) throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, 'RLE frame shorter than its 64-byte header');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const n = view.getUint32(0, true);
  if (n < 1 || n > 15) throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `RLE header says ${n} segments`);
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) offsets.push(view.getUint32(4 + 4 * i, true));
  const out: Uint8Array[] = [];
  for (let s = 0; s < n; s++) {
    const start = offsets[s]!;
    const end = s + 1 < n ? offsets[s + 1]! : frame.length;
    const seg = new Uint8Array(planeBytes);
    let i = start;
    let o = 0;
    // PackBits: n in 0..127 copies n+1 literal bytes, -1..-127 repeats the next byte 1-n times, -128 is a no-op.
    while (i < end && o < planeBytes) {
      const h = frame[i++]!;
      if (h < 128) {
        const len = Math.min(h + 1, planeBytes - o, end - i);
        seg.set(frame.subarray(i, i + len), o);
        i += h + 1;
        o += len;
      } else if (h > 128) {
        const len = Math.min(257 - h, planeBytes - o);
        seg.fill(frame[i++]!, o, o + len);
        o += len;
      }
    }
    if (o < planeBytes) throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `RLE segment ${s + 1} decodes to ${o} bytes, expected ${planeBytes}`);
    out.push(seg);
  }
  return out;
}

/** JFIF (full-range BT.601) YCbCr → RGB, one pixel. */
function ybrToRgb(y: number, cb: number, cr: number, out: Uint8Array, o: number): void {
  const c = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  out[o] = c(y + 1.402 * (cr - 128));
  out[o + 1] = c(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128));
  out[o + 2] = c(y + 1.772 * (cb - 128));
}

/**
 * Converts one native frame to rgb24. Handles MONOCHROME1/2 (8 or 16 bit, scaled from Bits
 * Stored), RGB (planar or interleaved), YBR_FULL and YBR_FULL_422 (8 bit).
 */
function nativeToRgb(path: string, info: DicomCineInfo, ds: NaturalDataset, src: Uint8Array, bigEndian: boolean): Uint8Array {
  const { width, height, photometric } = info;
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const planar = num(ds.PlanarConfiguration) === 1;
  if (photometric === 'MONOCHROME2' || photometric === 'MONOCHROME1') {
    const invert = photometric === 'MONOCHROME1';
    if (info.bitsAllocated === 8) {
      for (let p = 0; p < n; p++) {
        const v = invert ? 255 - src[p]! : src[p]!;
        rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = v;
      }
    } else if (info.bitsAllocated === 16) {
      const stored = num(ds.BitsStored) ?? 16;
      const max = 2 ** stored - 1;
      const signed = num(ds.PixelRepresentation) === 1;
      const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let p = 0; p < n; p++) {
        let v = signed ? dv.getInt16(2 * p, !bigEndian) + 2 ** (stored - 1) : dv.getUint16(2 * p, !bigEndian) & max;
        v = Math.round((255 * Math.min(Math.max(v, 0), max)) / max);
        if (invert) v = 255 - v;
        rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = v;
      }
    } else throw unsupported(path, `${info.bitsAllocated}-bit grayscale is not supported`, { bitsAllocated: info.bitsAllocated });
    return rgb;
  }
  if (info.bitsAllocated !== 8) throw unsupported(path, `${info.bitsAllocated}-bit color is not supported`, { bitsAllocated: info.bitsAllocated });
  if (photometric === 'RGB' || photometric === 'YBR_FULL') {
    const ybr = photometric === 'YBR_FULL';
    for (let p = 0; p < n; p++) {
      const a = planar ? src[p]! : src[3 * p]!;
      const b = planar ? src[n + p]! : src[3 * p + 1]!;
      const c = planar ? src[2 * n + p]! : src[3 * p + 2]!;
      if (ybr) ybrToRgb(a, b, c, rgb, 3 * p);
      else {
        rgb[3 * p] = a;
        rgb[3 * p + 1] = b;
        rgb[3 * p + 2] = c;
      }
    }
    return rgb;
  }
  if (photometric === 'YBR_FULL_422') {
    // Pairs of pixels share chroma: Y0 Y1 Cb Cr (PS3.3 C.7.6.3.1.2).
    for (let p = 0; p + 1 < n; p += 2) {
      const i = 2 * p;
      ybrToRgb(src[i]!, src[i + 2]!, src[i + 3]!, rgb, 3 * p);
      ybrToRgb(src[i + 1]!, src[i + 2]!, src[i + 3]!, rgb, 3 * (p + 1));
    }
    return rgb;
  }
  throw unsupported(path, `photometric interpretation ${photometric} is not supported`, { photometric });
}

function frameBytes(info: DicomCineInfo, ds: NaturalDataset): number {
  const bytes = info.bitsAllocated / 8;
  if (info.photometric === 'YBR_FULL_422') return info.width * info.height * 2;
  return info.width * info.height * (num(ds.SamplesPerPixel) ?? 1) * bytes;
}

/** The pixel data as per-frame byte arrays (native data split by frame size). */
function pixelFrames(path: string, info: DicomCineInfo, ds: NaturalDataset): Uint8Array[] {
  const pd = ds.PixelData;
  const parts = (Array.isArray(pd) ? pd : [pd]).map((p) => (p instanceof ArrayBuffer ? new Uint8Array(p) : ArrayBuffer.isView(p) ? new Uint8Array(p.buffer, p.byteOffset, p.byteLength) : null));
  if (parts.some((p) => p === null)) throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${path}: pixel data is unreadable`, { details: { path } });
  const chunks = parts as Uint8Array[];
  if (info.encoding !== 'native') {
    if (chunks.length !== info.numFrames) {
      throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${path}: ${chunks.length} compressed frames for ${info.numFrames} frames`, { details: { path } });
    }
    return chunks;
  }
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const size = frameBytes(info, ds);
  if (all.length < size * info.numFrames) {
    throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${path}: pixel data holds ${all.length} bytes, ${info.numFrames} frames need ${size * info.numFrames}`, { details: { path } });
  }
  const out: Uint8Array[] = [];
  for (let f = 0; f < info.numFrames; f++) out.push(all.subarray(f * size, (f + 1) * size));
  return out;
}

/** Decodes every frame to rgb24 (native and RLE); JPEG frames are returned as they are. */
export async function readDicomCine(path: string): Promise<{ info: DicomCineInfo; frames: Uint8Array[] }> {
  const { ds, ts } = parse(path, await readWhole(path), false);
  const info = describe(path, ds, ts);
  const raw = pixelFrames(path, info, ds);
  if (info.encoding === 'jpeg-baseline') return { info, frames: raw };
  const bigEndian = ts === TS_EXPLICIT_BE;
  const frames = raw.map((f) => {
    if (info.encoding === 'native') return nativeToRgb(path, info, ds, f, bigEndian);
    const bytes = info.bitsAllocated / 8;
    const plane = info.width * info.height;
    const segs = decodeDicomRleFrame(f, plane);
    // Segments are sample planes, most significant byte first for 16-bit data (PS3.5 G.2).
    const spp = info.samplesPerPixel;
    if (segs.length !== spp * bytes) throw new CinesegError(ErrorCode.E_DECODE_CORRUPT, `${path}: RLE frame has ${segs.length} segments, expected ${spp * bytes}`);
    const native = new Uint8Array(plane * spp * bytes);
    for (let p = 0; p < plane; p++) {
      for (let s = 0; s < spp; s++) {
        for (let b = 0; b < bytes; b++) native[(p * spp + s) * bytes + b] = segs[s * bytes + (bytes - 1 - b)]![p]!;
      }
    }
    // The decoded data is interleaved little-endian, whatever Planar Configuration says.
    return nativeToRgb(path, info, { ...ds, PlanarConfiguration: 0 }, native, false);
  });
  return { info, frames };
}

/**
 * Stages a DICOM cine for ffmpeg (see the module comment): decoded rgb24 frames, or the JPEG
 * frames as one motion-JPEG stream, in a temporary folder that `release()` removes.
 */
export async function stageDicomCine(input: string, path: string): Promise<ResolvedInput & { dicom: DicomCineInfo }> {
  const { info, frames } = await readDicomCine(path);
  const { dir, release } = await stagingDir('cineseg-dicom-');
  try {
    const jpeg = info.encoding === 'jpeg-baseline';
    const rate = String(Math.round(info.fps * 1e6) / 1e6);
    let file: string;
    let args: string[];
    if (jpeg) {
      // One file per frame for the image2 demuxer: one packet per frame, so counts and seeks are
      // exact (the raw mjpeg demuxer cuts packets at arbitrary sizes).
      await Promise.all(frames.map((f, i) => writeFile(join(dir, `${String(i).padStart(6, '0')}.jpg`), f)));
      file = join(dir, '000000.jpg');
      args = ['-f', 'image2', '-framerate', rate, '-start_number', '0', '-i', join(dir, '%06d.jpg')];
    } else {
      file = join(dir, 'frames.rgb');
      await new Promise<void>((resolve, reject) => {
        const ws = createWriteStream(file);
        ws.on('error', reject);
        ws.on('finish', resolve);
        for (const f of frames) ws.write(f);
        ws.end();
      });
      args = ['-f', 'rawvideo', '-pixel_format', 'rgb24', '-video_size', `${info.width}x${info.height}`, '-framerate', rate, '-i', `file:${file}`];
    }
    const sizeBytes = (await stat(file)).size;
    return { input, kind: 'file', args, readsStdin: false, sizeBytes, release, dicom: info };
  } catch (cause) {
    await release();
    throw cause instanceof CinesegError ? cause : new CinesegError(ErrorCode.E_OUTPUT_WRITE, `could not stage ${input} for decoding: ${(cause as Error).message}`, { cause });
  }
}
