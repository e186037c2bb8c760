/**
 * cineseg's public API: the only barrel. Everything exported here is documented and stable within
 * a major version; anything else is internal.
 */
export { CinesegError, ErrorCode, isCinesegError, toCinesegError } from './errors.js';
export { encodeRgbFrames, type EncodeRgbOptions } from './decode/ffmpeg.js';
export {
  encodeMask,
  encodeMaskCompressed,
  decodeMask,
  countsToString,
  stringToCounts,
  toCounts,
  toCompressed,
  rleArea,
  rleToBbox,
  rleIou,
  rleMerge,
  type Rle,
  type RleCounts,
  type CompressedRle,
  type CocoBbox,
} from './mask/rle.js';
export { probe, type VideoInfo, type ProbeOptions } from './decode/probe.js';
export { FrameDecoder, type Frame, type FrameDecoderOptions, type DecodeStats, type DeliveryMode } from './decode/frame-decoder.js';
export { FrameSource, frameSource, mapFrames, type FrameSourceOptions, type FrameWork } from './source/frame-source.js';
export { classifyInput, listImageSequence, resolveInput, DEFAULT_IMAGE_FPS, type InputKind, type ResolvedInput } from './source/input.js';
