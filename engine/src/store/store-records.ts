/**
 * The records of the annotation store, the same on both backends (annotation-store.ts): what is
 * written (…Input) and what is read back (…Record). session-store.ts re-exports them, so existing
 * imports keep working; a file of types only, so that the SQLite row mapping (sqlite-rows.ts) and
 * the stores can share them without importing each other.
 */
import type { CocoBbox, CompressedRle, Rle } from '../mask/rle.js';
import type { ClipDicomRefs } from '../source/dicom-cine-source.js';
import type { Box, Point } from '../track/prompts.js';

export type { ClipDicomRefs };

/** What is known about a clip when it is registered. */
export interface ClipInput {
  /** Path as given (kept for exports and for re-opening; the hash is the identity). */
  path: string;
  /** sha256 hex of the file's bytes; see {@link hashFile}. */
  contentHash: string;
  width: number;
  height: number;
  numFrames: number;
  fps: number;
  /** Frame duration in ms when the source states it (DICOM Frame Time). */
  frameTimeMs?: number;
  dicom?: ClipDicomRefs;
}

export interface ClipRecord extends ClipInput {
  id: number;
  createdAt: string;
}

export type SessionStatus = 'open' | 'closed' | 'done';

export interface SessionRecord {
  id: string;
  clipId: number;
  status: SessionStatus;
  /** Free-form facts (model name, execution provider, batch name). */
  meta: Record<string, unknown>;
  /** The session's prompt version: the number of prompts recorded so far (0 = none). */
  promptVersion: number;
  createdAt: string;
  updatedAt: string;
}

export interface ObjectRecord {
  sessionId: string;
  objectId: number;
  label: string;
  removed: boolean;
  createdAt: string;
  /** Optimistic version: one more with every write that touched the object (0 before schema 3). */
  version: number;
}

/** A prompt as the tracker takes it, in video pixels. */
export type PromptInput =
  | { objectId: number; frame: number; kind: 'points'; points: Point[]; box?: Box; clearOld?: boolean }
  | { objectId: number; frame: number; kind: 'box'; box: Box; points?: Point[] }
  | { objectId: number; frame: number; kind: 'mask'; mask: Rle };

/** A recorded prompt; `version` is the session's prompt version right after it (1, 2, …). */
export type PromptRecord = PromptInput & { id: number; sessionId: string; version: number; createdAt: string };

/** How a mask came to be. */
export type MaskOrigin = 'prompt' | 'propagate' | 'import' | 'edit';

/** One object's mask on one frame, at the clip's size. */
export interface MaskInput {
  objectId: number;
  frame: number;
  rle: Rle;
  /** Probability the object is present (sigmoid of the object score), if known. */
  score?: number | null;
  /** The prompt version that produced it (default: the session's current version). */
  promptVersion?: number;
  origin?: MaskOrigin;
}

export interface MaskRecord {
  /** Row id; increases with every write, so it orders corrections. */
  id: number;
  sessionId: string;
  objectId: number;
  frame: number;
  rle: CompressedRle;
  area: number;
  bbox: CocoBbox;
  score: number | null;
  promptVersion: number;
  origin: MaskOrigin;
  /** True for the newest mask of its (object, frame). */
  current: boolean;
  /** Row id of the mask that replaced this one, or null while current. */
  supersededBy: number | null;
  createdAt: string;
}

/** Everything needed to rebuild a session after a restart. */
export interface LoadedSession {
  session: SessionRecord;
  clip: ClipRecord;
  objects: ObjectRecord[];
  prompts: PromptRecord[];
  /** Current masks, ordered by object then frame. */
  masks: MaskRecord[];
}
