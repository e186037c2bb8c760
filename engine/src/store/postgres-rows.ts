/**
 * Rows of the PostgreSQL store's tables (postgres-schema.ts) and their records
 * (session-store.ts's types): one mapping each, so every query returns what SQLite's would.
 * Times come back as Date and leave as ISO strings, as SQLite stores them.
 */
import type { CocoBbox } from '../mask/rle.js';
import type { ClipDicomRefs, ClipRecord, MaskOrigin, MaskRecord, ObjectRecord, PromptInput, PromptRecord, SessionRecord, SessionStatus } from './session-store.js';

export interface ClipRow {
  id: number;
  path: string;
  content_hash: string;
  width: number;
  height: number;
  num_frames: number;
  fps: number;
  frame_time_ms: number | null;
  dicom: ClipDicomRefs | null;
  created_at: Date;
}
export interface SessionRow {
  id: string;
  clip_id: number;
  status: SessionStatus;
  meta: Record<string, unknown>;
  prompt_version: number;
  created_at: Date;
  updated_at: Date;
}
export interface ObjectRow {
  session_id: string;
  object_id: number;
  label: string;
  removed: boolean;
  version: number;
  created_at: Date;
}
export interface PromptRow {
  id: number;
  session_id: string;
  object_id: number;
  frame: number;
  kind: string;
  data: Omit<PromptInput, 'objectId' | 'frame'>;
  version: number;
  created_at: Date;
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
  bbox_x: number;
  bbox_y: number;
  bbox_w: number;
  bbox_h: number;
  score: number | null;
  prompt_version: number;
  origin: MaskOrigin;
  current: boolean;
  superseded_by: number | null;
  created_at: Date;
}

/** The object record with its version (H1 adds `version` to ObjectRecord; kept structural here). */
export type VersionedObject = ObjectRecord & { version: number };

export const iso = (d: Date): string => d.toISOString();

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
    ...(r.dicom === null ? {} : { dicom: r.dicom }),
    createdAt: iso(r.created_at),
  };
}

export function sessionFromRow(r: SessionRow): SessionRecord {
  return { id: r.id, clipId: r.clip_id, status: r.status, meta: r.meta, promptVersion: r.prompt_version, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at) };
}

export function objectFromRow(r: ObjectRow): VersionedObject {
  return { sessionId: r.session_id, objectId: r.object_id, label: r.label, removed: r.removed, version: r.version, createdAt: iso(r.created_at) };
}

export function promptFromRow(r: PromptRow): PromptRecord {
  return { ...r.data, objectId: r.object_id, frame: r.frame, id: r.id, sessionId: r.session_id, version: r.version, createdAt: iso(r.created_at) } as PromptRecord;
}

export function maskFromRow(r: MaskRow): MaskRecord {
  return {
    id: r.id,
    sessionId: r.session_id,
    objectId: r.object_id,
    frame: r.frame,
    rle: { size: [r.height, r.width], counts: r.counts },
    area: r.area,
    bbox: [r.bbox_x, r.bbox_y, r.bbox_w, r.bbox_h] as CocoBbox,
    score: r.score,
    promptVersion: r.prompt_version,
    origin: r.origin,
    current: r.current,
    supersededBy: r.superseded_by,
    createdAt: iso(r.created_at),
  };
}
