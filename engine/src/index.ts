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
export { FrameSource, frameSource, mapFrames, type FrameSourceOptions, type FrameWork, type RunOptions } from './decode/frame-source.js';
export { classifyInput, listImageSequence, resolveInput, DEFAULT_IMAGE_FPS, type InputKind, type ResolvedInput } from './source/input.js';
export { loadBundle, defaultBundleDir, type Bundle, type MemorySettings, type BundleConstants, type GraphKey } from './model/bundle.js';
export { ModelSessions, EXECUTION_PROVIDERS, type ExecutionProvider, type ExecutionProviderRequest, type EpChoice, type ModelSessionOptions } from './model/ort-sessions.js';
export { VideoTracker, type FrameProvider, type VideoTrackerOptions, type PropagateOptions, type TrackedFrame } from './track/tracker.js';
export { StreamTracker, trackSource, type StreamTrackerOptions, type StreamPrompt, type SourceTrackedFrame } from './track/stream-tracker.js';
export { DecodedFrames } from './track/video-frames.js';
export type { FrameOutput } from './track/object-state.js';
export type { Point, Box } from './track/prompts.js';
export type { EngineOptions, EngineStats } from './track/propagation.js';
export { resizeBilinear, resizeBilinearToMask, resizeBilinearAntialias } from './mask/upsample.js';
export { fillHolesInMaskScores } from './mask/fill-holes.js';
export { jaccard, boundaryF, scoreSequence, type SequenceScore } from './mask/metrics.js';
export { VisCollector, readVisJson, writeVisJson, evaluateVis, type VisJson, type VisAnnotation, type VisVideo, type EvalResult } from './mask/vis-json.js';
export { readPngMask, decodePngMask, type PngMask } from './mask/png-mask.js';
export { trackVideo, type TrackVideoOptions, type TrackVideoResult, type CliPrompt } from './cli/track-command.js';
export { benchTrack, type TrackBenchOptions, type TrackBenchResult } from './bench/track-bench.js';
export {
  SessionStore,
  hashFile,
  STORE_SCHEMA_VERSION,
  type SessionStoreOptions,
  type ClipInput,
  type ClipRecord,
  type ClipDicomRefs,
  type SessionRecord,
  type SessionStatus,
  type ObjectRecord,
  type PromptInput,
  type PromptRecord,
  type MaskInput,
  type MaskRecord,
  type MaskOrigin,
  type LoadedSession,
} from './store/session-store.js';
export { defaultStorePath } from './store/session-store.js';
export { MaskWriter, type MaskWriterOptions } from './store/mask-writer.js';
export { SqliteStore } from './store/sqlite-store.js';
// Types only: `pg` is loaded when a postgres:// store is opened (openStore), never by importing cineseg.
export type { PostgresStore, PostgresStoreOptions } from './store/postgres-store.js';
export { openStore, defaultStoreSpec, isPostgresSpec, asAnnotationStore } from './store/open-store.js';
export type { AnnotationStore, EditOptions, ObjectVersions, PromptHistory, SessionSummary, StoreKind } from './store/annotation-store.js';
export { trackSessionToStore, type TrackToStoreOptions, type TrackToStoreResult } from './store/track-to-store.js';
export { exportVis, normalizeVis } from './export/vis.js';
export { exportCoco, visToCoco, type CocoJson, type CocoImage, type CocoAnnotation, type CocoExportOptions } from './export/coco.js';
export { exportPng, encodeIndexedPng, encodeGrayPng, pngFrameName, type PngLabelsFile } from './export/png.js';
export { exportNifti, niftiHeader, type NiftiExportOptions, type NiftiExportResult } from './export/nifti.js';
export { exportDicomSeg, SEGMENTATION_SOP_CLASS, type DicomSegOptions, type DicomSegResult } from './export/dicom-seg.js';
export { planLabels, type LabelEntry, type LabelPlan } from './export/label-map.js';
export { isDicomFile, readDicomCineInfo, readDicomCine, type DicomCineInfo, type DicomPixelEncoding } from './source/dicom-cine-source.js';
export { exportMasks, EXPORT_FORMATS, type ExportFormat, type ExportMasksOptions, type ExportMasksResult } from './export/export-session.js';
export { storedSessionList, formatSessionList, type StoredSessionRow } from './cli/export-command.js';
export { runBatch, readBatchPrompts, findBatchClips, formatBatchTable, type BatchOptions, type BatchRow, type BatchPromptEntry, type BatchClip, type BatchStatus } from './cli/batch-command.js';
export { registerClipFile } from './store/register-clip.js';
export * as protocol from './protocol.js';
export { startServer, type ServeOptions, type CinesegServer } from './server/http-server.js';
export { MemorySink, type AnnotationSink, type SinkSession, type SinkPrompt, type SinkMask, type SinkSupport, type SupportSource } from './server/annotation-sink.js';
export { StoreSink } from './server/store-sink.js';
export { HlsCache, type HlsPackage } from './server/hls.js';
export { packageHls, type PackageHlsOptions } from './decode/ffmpeg.js';
export { benchLiveLatency, type LiveLatencyBenchOptions, type LiveLatencyBenchResult } from './bench/live-latency-bench.js';
export { buildSupportSet, chooseSupportFrames, DEFAULT_SUPPORT_FRAMES, type SupportSpec, type SupportSetOptions, type SupportMemory } from './track/support-set.js';
export { DEFAULT_SUPPORT_MEMORY, type SupportMemoryOptions } from './track/memory-bank.js';
