/**
 * cineseg's public API, the only barrel: what a program that tracks, stores and exports masks
 * needs, documented in docs/api.md and stable within a major version; the wire format is the
 * `cineseg/protocol` entry. Everything else (bench, CLI commands, the server's parts) is internal:
 * tests and the repository's own tools import those files directly.
 */

// Errors: every failure is a CinesegError whose stable code callers branch on (docs/errors.md).
export { CinesegError, ErrorCode, isCinesegError } from './errors.js';

// Models: a bundle folder (manifest + ONNX graphs) and the onnxruntime sessions that run it.
export { loadBundle, defaultBundleDir, type Bundle } from './model/bundle.js';
export { ModelSessions, EXECUTION_PROVIDERS, type ExecutionProvider, type ExecutionProviderRequest, type ModelSessionOptions } from './model/ort-sessions.js';

// Decode: what is in a video, and its frames as raw RGB (pulled, or as an RxJS stream).
export { probe, type VideoInfo, type ProbeOptions } from './decode/probe.js';
export { FrameSource, frameSource, type FrameSourceOptions, type RunOptions } from './decode/frame-source.js';
export type { Frame, FrameDecoder } from './decode/frame-decoder.js';

// Tracking: SAM 2's video predictor over a clip's frames at the model's size.
export { VideoTracker, type VideoTrackerOptions, type PropagateOptions, type TrackedFrame, type RestoredObject, type FrameProvider } from './track/video-tracker.js';
export { DecodedFrames, type DecodedFramesOptions } from './track/decoded-frames.js';
export type { FrameOutput } from './track/object-state.js';
export type { Point, Box } from './track/prompts.js';
export type { SupportSpec, SupportSetOptions } from './track/support-set.js';

// Masks: COCO RLE (the one mask codec) and the DAVIS metrics J and F.
export { encodeMask, encodeMaskCompressed, decodeMask, rleArea, rleToBbox, rleIou, type Rle, type RleCounts, type CompressedRle, type CocoBbox } from './mask/rle.js';
export { jaccard, boundaryF } from './mask/metrics.js';
export type { VisJson } from './mask/vis-json.js';

// Store: sessions, prompts and masks behind one async interface, on SQLite or PostgreSQL.
// PostgresStore is a type only: `pg` is loaded when a postgres:// store is opened, never by importing cineseg.
export { openStore, defaultStoreSpec } from './store/open-store.js';
export { SqliteStore } from './store/sqlite-store.js';
export type { PostgresStore, PostgresStoreOptions } from './store/postgres-store.js';
export type { AnnotationStore, EditOptions, ObjectVersions, SessionSummary, StoreKind } from './store/annotation-store.js';
export type { ClipInput, ClipRecord, SessionRecord, SessionStatus, ObjectRecord, PromptInput, PromptRecord, MaskInput, MaskRecord, MaskOrigin, LoadedSession } from './store/store-records.js';
export { registerClipFile } from './store/register-clip.js';
export { trackSessionToStore, type TrackToStoreOptions, type TrackToStoreResult } from './store/track-to-store.js';

// Exports: a stored session (or a VIS JSON file) as YouTube-VIS, COCO, PNG, NIfTI or DICOM SEG.
export { exportMasks, EXPORT_FORMATS, type ExportFormat, type ExportMasksOptions, type ExportMasksResult } from './export/export-session.js';

// Server: `cineseg serve` in a program (HTTP, HLS and the WebSocket protocol).
export { startServer, type ServeOptions, type CinesegServer } from './server/http-server.js';

// Writing clips and pictures: RGB frames to a video, a gray PNG (the sample generator builds on these).
export { encodeRgbFrames, type EncodeRgbOptions } from './decode/ffmpeg.js';
export { encodeGrayPng } from './export/png.js';
