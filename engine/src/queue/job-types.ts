/**
 * What travels through Redis between `cineseg batch --queue` and `cineseg worker`: one job per
 * clip, its progress and its result. Plain JSON (BullMQ stores it as such); the store spec is never
 * in a job — each worker is given `--store`, so no database password sits in Redis.
 */
import { createHash } from 'node:crypto';
import type { PromptInput } from '../store/session-store.js';

/** The one BullMQ queue cineseg's batch jobs go through. */
export const QUEUE_NAME = 'cineseg-track';

/** The job name (BullMQ's `job.name`) of a clip to track. */
export const TRACK_JOB = 'track-clip';

export interface ClipJobData {
  /** Layout version of this object, for workers of another build. */
  v: 1;
  /**
   * Where the worker reads the clip: an absolute path on storage every worker mounts at the same
   * place, or an http(s) URL (a server's media URL with its `?token=`), downloaded first.
   */
  clip: string;
  /** The clip's name in the batch (file or folder name), shown in progress and status. */
  name: string;
  /** The prompts in store form, at the clip's pixels. */
  prompts: PromptInput[];
  /** The model bundle's name the batch asked for; null: whichever bundle the worker runs. */
  model: string | null;
  /** Which batch the session belongs to (the session's `meta.batch`). */
  batchKey: string;
}

/** What a worker reports through `job.updateProgress`. */
export interface ClipJobProgress {
  done: number;
  total: number;
}

/** What a finished job returns (BullMQ keeps it as the job's `returnvalue`). */
export interface ClipJobResult {
  sessionId: string;
  frames: number;
  objects: number;
  /** Frames whose masks this attempt committed. */
  framesWritten: number;
  /** The frame this attempt continued after (stored masks of an earlier attempt), or null. */
  resumedAfter: number | null;
  seconds: number;
  /** The worker that finished it (its `--name`, default host:pid). */
  worker: string;
}

/**
 * The job id of a clip in a batch: the same clip (same content hash, or for a URL the same URL
 * without its token) in the same batch always gets the same id, so adding it again while BullMQ
 * keeps the job (waiting, active, completed or failed) adds nothing. BullMQ ids must not look
 * like integers, hence the prefix; ':' is Redis's key separator, hence hex only.
 */
export function clipJobId(batchKey: string, clipIdentity: string): string {
  return `clip-${createHash('sha256').update(`${batchKey}\n${clipIdentity}`).digest('hex').slice(0, 32)}`;
}

/** True for an http(s) location (downloaded by the worker) rather than a shared path. */
export function isClipUrl(clip: string): boolean {
  return /^https?:\/\//i.test(clip);
}

/** A URL's identity for job ids and logs: without its query's token (which changes and is secret). */
export function urlWithoutToken(url: string): string {
  const u = new URL(url);
  u.searchParams.delete('token');
  u.username = '';
  u.password = '';
  return u.toString();
}

/** The leading `E_CODE` of a failure line (`E_DECODE_CORRUPT: …`), or null. */
export function errorCodeOf(line: string | undefined | null): string | null {
  return /^(E_[A-Z0-9_]+)\b/.exec(line ?? '')?.[1] ?? null;
}
