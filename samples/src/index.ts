/** cineseg-samples: deterministic synthetic clips with exact ground truth. */
export { GENERATOR_VERSION, CLIP_KINDS, blobRadius, defaultFrameCount, type ClipKind, type ClipSpec, type Scene, type RenderedFrame, type ObjectInfo, type Category, type BlobShape } from './scene.js';
export {
  createScene,
  writeClip,
  clipDirName,
  DEFAULT_WIDTH,
  DEFAULT_HEIGHT,
  DEFAULT_FPS,
  ENCODE_CRF,
  type ClipResult,
  type WriteClipOptions,
  type GtFile,
  type GtAnnotation,
  type PromptsFile,
  type PromptEntry,
} from './clip-writer.js';
export { parseCliArgs, UsageError, DEFAULT_SEEDS, type CliOptions } from './cli-args.js';
export { scoreTracks, boundaryF, type TrackFile, type TrackScore, type ObjectScore } from './evaluate.js';
export { promptFromMask, type MaskPrompt } from './prompts.js';
export { encodeGrayPng } from './png.js';
export { Rng, hashString } from './prng.js';
export { SITES, SITE_NAMES, DEFAULT_SITE, siteFor, type Site, type UltrasoundLook, type EndoscopyLook } from './sites.js';
