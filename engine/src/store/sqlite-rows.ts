/**
 * The SQLite store's rows as better-sqlite3 returns them (snake_case columns) and their mapping to
 * the store's records (store-records.ts). Kept out of session-store.ts so that it stays about the
 * writes and reads themselves.
 */
import type { CocoBbox } from '../mask/rle.js';
import type { ClipDicomRefs, ClipRecord, MaskOrigin, MaskRecord, ObjectRecord, PromptInput, PromptRecord, SessionRecord, SessionStatus } from './store-records.js';

export interface ClipRow {
  id: number;
  path: string;
  content_hash: string;
  width: number;
  height: number;
  num_frames: number;
  fps: number;
  frame_time_ms: number | null;
  dicom: string | null;
  created_at: string;
}
export interface SessionRow {
  id: string;
  clip_id: number;
  status: SessionStatus;
  meta: string;
  prompt_version: number;
  created_at: string;
  updated_at: string;
}
export interface ObjectRow {
  session_id: string;
  object_id: number;
  label: string;
  removed: number;
  created_at: string;
  /** Absent on a version-2 file opened read-only. */
  version?: number;
}
export interface PromptRow {
  id: number;
  session_id: string;
  object_id: number;
  frame: number;
  kind: string;
  data: string;
  version: number;
  created_at: string;
}
export interface MaskRow {
  id: number;
  session_id: string;
  object_id: number;
  frame: number;
  height: number;
  width: number;
  counts: string;
  area: number;
  bbox: string;
  score: number | null;
  prompt_version: number;
  origin: MaskOrigin;
  current: number;
  superseded_by: number | null;
  created_at: string;
}

export function now(): string {
  return new Date().toISOString();
}

export function clipFromRow(r: ClipRow): ClipRecord {
  return {
    id: r.id,
    path: r.path,
    contentHash: r.content_hash,
    width: r.width,
    height: r.height,
    numFrames: r.num_frames,
    fps: r.fps,
    ...(r.frame_time_ms === null ? {} : { frameTimeMs: r.frame_time_ms }),
    ...(r.dicom === null ? {} : { dicom: JSON.parse(r.dicom) as ClipDicomRefs }),
    createdAt: r.created_at,
  };
}

export function sessionFromRow(r: SessionRow): SessionRecord {
  return {
    id: r.id,
    clipId: r.clip_id,
    status: r.status,
    meta: JSON.parse(r.meta) as Record<string, unknown>,
    promptVersion: r.prompt_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function objectFromRow(r: ObjectRow): ObjectRecord {
  return { sessionId: r.session_id, objectId: r.object_id, label: r.label, removed: r.removed !== 0, createdAt: r.created_at, version: r.version ?? 0 };
}

export function promptFromRow(r: PromptRow): PromptRecord {
  const data = JSON.parse(r.data) as Omit<PromptInput, 'objectId' | 'frame'>;
  return { ...data, objectId: r.object_id, frame: r.frame, id: r.id, sessionId: r.session_id, version: r.version, createdAt: r.created_at } as PromptRecord;
}

export function maskFromRow(r: MaskRow): MaskRecord {
  return {
    id: r.id,
    sessionId: r.session_id,
    objectId: r.object_id,
    frame: r.frame,
    rle: { size: [r.height, r.width], counts: r.counts },
    area: r.area,
    bbox: JSON.parse(r.bbox) as CocoBbox,
    score: r.score,
    promptVersion: r.prompt_version,
    origin: r.origin,
    current: r.current !== 0,
    supersededBy: r.superseded_by,
    createdAt: r.created_at,
  };
}
