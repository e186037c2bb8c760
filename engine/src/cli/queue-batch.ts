/**
 * `cineseg batch … --queue redis://…`: one BullMQ job per clip for `cineseg worker`s, then (unless
 * `--no-wait`) following the jobs to their end with the batch's bars and summary table.
 *
 * Idempotent: a clip's job id comes from its content hash (a URL: the URL without its token) and
 * the batch key (queue/job-types.ts), so a clip whose job the queue still holds — waiting, active,
 * completed or failed — is not added again, and a clip whose batch session the store marks done
 * is skipped before it reaches the queue. A failed job stays failed until `cineseg queue retry`.
 */
import { resolve } from 'node:path';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { probe } from '../decode/probe.js';
import { loadBundle } from '../model/bundle.js';
import { ClipQueue, redactQueueUrl, type EnqueueResult, type JobEnd } from '../queue/clip-queue.js';
import { clipJobId, isClipUrl, urlWithoutToken, type ClipJobData } from '../queue/job-types.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { openStore } from '../store/open-store.js';
import { hashClip } from '../store/register-clip.js';
import { clipPromptEntries, findBatchInputs, readBatchPrompts, toStorePrompts, type BatchClip, type SamplePromptKind } from './batch-inputs.js';
import { batchProgress, exportBatchSession, formatBatchTable, type BatchRow } from './batch-report.js';
import type { ExportFormat } from './export-command.js';

export interface QueuedBatchOptions {
  /** A folder or a list file (cli/batch-inputs.ts). */
  input: string;
  queueUrl: string;
  /** The store the workers write to: read here to skip clips already done (and to export with `out`). */
  store: string;
  prompts?: string;
  samplePrompt?: SamplePromptKind;
  /** Export each finished clip here (after waiting). */
  out?: string;
  formats?: readonly ExportFormat[];
  /** A bundle folder: its name goes in the jobs, and only workers running that bundle take them. */
  model?: string;
  /** Default: `out` resolved, else `input` resolved. */
  batchKey?: string;
  /** Follow the jobs to their end (default true). */
  wait?: boolean;
  /** The jobs queued, and how many clips did not go to the queue (done in the store, or no prompts). */
  onQueued?: (jobs: QueuedClip[], notQueued: number) => void;
  onClipProgress?: (clip: string, done: number, total: number) => void;
  onClipEnd?: (row: BatchRow) => void;
  log?: (line: string) => void;
}

/** A clip and what enqueue did with it. */
export type QueuedClip = EnqueueResult & { clip: string };

export interface QueuedBatchResult {
  batchKey: string;
  /** Clips that went to the queue (added now or already there), in clip order. */
  jobs: QueuedClip[];
  /** One row per clip when waited for (clips skipped or failed before the queue included); else only those. */
  rows: BatchRow[];
}

/** The identity a clip's job id is derived from, and the store's done session of this batch if any. */
async function clipIdentity(store: AnnotationStore, clip: BatchClip, batchKey: string): Promise<{ identity: string; done: BatchRow | null }> {
  if (isClipUrl(clip.path)) return { identity: urlWithoutToken(clip.path), done: null };
  const hash = await hashClip(clip.path);
  const rec = await store.getClip(hash);
  const s = rec ? (await store.listSessions({ clipId: rec.id })).find((x) => x.meta.batch === batchKey && x.status === 'done') : undefined;
  const done = s ? { clip: clip.name, status: 'skipped' as const, sessionId: s.id, frames: rec!.numFrames, objects: (await store.listObjects(s.id)).length, framesWritten: 0, seconds: 0 } : null;
  return { identity: hash, done };
}

function rowOf(clip: string, e: JobEnd): BatchRow {
  if (e.state === 'failed') return { clip, status: 'failed', sessionId: null, frames: 0, objects: 0, framesWritten: 0, seconds: 0, error: e.reason };
  const r = e.result;
  // A job whose session was already done (a retried completed job) wrote nothing: skipped.
  const status = r.resumedAfter !== null ? 'resumed' : r.framesWritten === 0 ? 'skipped' : 'done';
  return { clip, status, sessionId: r.sessionId, frames: r.frames, objects: r.objects, framesWritten: r.framesWritten, seconds: r.seconds };
}

/** Queues a batch and, unless `wait` is false, follows it to the end (see the module comment). */
export async function queueBatch(opts: QueuedBatchOptions): Promise<QueuedBatchResult> {
  const log = opts.log ?? (() => undefined);
  const clips = await findBatchInputs(opts.input);
  if (clips.length === 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `no clips in ${opts.input}`);
  const fileprompts = opts.prompts ? readBatchPrompts(opts.prompts) : null;
  const batchKey = opts.batchKey ?? resolve(opts.out ?? opts.input);
  const model = opts.model ? loadBundle(opts.model).name : null;
  const store = await openStore(opts.store);
  let queue: ClipQueue | null = null;
  try {
    queue = await ClipQueue.open(opts.queueUrl);
    const before = new Map<string, BatchRow>();
    const planned: { clip: BatchClip; id: string; data: ClipJobData }[] = [];
    for (const clip of clips) {
      try {
        const { identity, done } = await clipIdentity(store, clip, batchKey);
        if (done) {
          before.set(clip.name, done);
          continue;
        }
        const entries = clipPromptEntries(clip, fileprompts, opts.samplePrompt);
        if (!entries || entries.length === 0) throw new CinesegError(ErrorCode.E_USAGE, `no prompts for clip "${clip.name}"`);
        // Only a mask prompt needs the clip's size (to check and encode it): probe just then.
        const size = entries.some((e) => e.mask !== undefined) ? await probe(clip.path) : { width: 0, height: 0 };
        const location = isClipUrl(clip.path) ? clip.path : resolve(clip.path);
        planned.push({ clip, id: clipJobId(batchKey, identity), data: { v: 1, clip: location, name: clip.name, prompts: toStorePrompts(entries, size.width, size.height), model, batchKey } });
      } catch (err) {
        const e = toCinesegError(err);
        log(`${clip.name}: ${e.toLine()}`);
        before.set(clip.name, { clip: clip.name, status: 'failed', sessionId: null, frames: 0, objects: 0, framesWritten: 0, seconds: 0, error: e.toLine() });
      }
    }
    const results = await queue.enqueue(planned.map(({ id, data }) => ({ id, data })));
    const jobs = results.map((r, i) => ({ ...r, clip: planned[i]!.clip.name }));
    const added = jobs.filter((j) => j.added).length;
    const states = new Map<string, number>();
    for (const j of jobs) if (!j.added) states.set(j.state, (states.get(j.state) ?? 0) + 1);
    const there = [...states].map(([s, n]) => `${n} ${s}`).join(', ');
    log(
      `${redactQueueUrl(opts.queueUrl)}: ${added} job(s) added${jobs.length > added ? `, ${jobs.length - added} already in the queue (${there})` : ''}${before.size ? `, ${before.size} clip(s) not queued (done in the store, or failed)` : ''}; batch ${batchKey}`,
    );
    opts.onQueued?.(jobs, before.size);
    if (opts.wait === false) return { batchKey, jobs, rows: [...before.values()] };

    const nameOf = new Map(jobs.map((j) => [j.id, j.clip]));
    for (const r of before.values()) opts.onClipEnd?.(r);
    const ends = await queue.follow(
      jobs.map((j) => j.id),
      {
        progress: (id, p) => opts.onClipProgress?.(nameOf.get(id)!, p.done, p.total),
        end: (e) => opts.onClipEnd?.(rowOf(nameOf.get(e.id)!, e)),
      },
    );
    const after = new Map(ends.map((e) => [nameOf.get(e.id)!, rowOf(nameOf.get(e.id)!, e)]));
    const rows = clips.map((c) => before.get(c.name) ?? after.get(c.name)!);
    if (opts.out) {
      const outDir = resolve(opts.out);
      for (const r of rows) {
        if (r.status === 'failed' || !r.sessionId) continue;
        try {
          await exportBatchSession(store, r.sessionId, outDir, r.clip, opts.formats ?? ['vis']);
        } catch (err) {
          const e = toCinesegError(err);
          log(`${r.clip}: ${e.toLine()}`);
          Object.assign(r, { status: 'failed', error: e.toLine() });
        }
      }
    }
    return { batchKey, jobs, rows };
  } finally {
    await queue?.destroy();
    await store.destroy();
  }
}

/** The CLI's queued batch: bars on a terminal, then the table (or, with --no-wait, the queued jobs). Returns the exit code. */
export async function runQueuedBatch(opts: QueuedBatchOptions): Promise<number> {
  let progress: ReturnType<typeof batchProgress> | null = null;
  const r = await queueBatch({
    ...opts,
    onQueued: (jobs, notQueued) => {
      if (opts.wait !== false) progress = batchProgress(jobs.length + notQueued);
    },
    onClipProgress: (c, d, t) => progress?.clip(c, d, t),
    onClipEnd: (row) => progress?.clipEnd(row.clip),
  });
  (progress as ReturnType<typeof batchProgress> | null)?.end();
  if (opts.wait === false) {
    const lines = r.jobs.map((j) => `${j.clip}  ${j.id}  ${j.added ? 'added' : j.state}`);
    const skipped = r.rows.map((x) => `${x.clip}  -  ${x.status === 'skipped' ? 'done in the store' : x.error}`);
    process.stdout.write(
      `${[...lines, ...skipped, `${r.jobs.length} job(s) queued (${r.jobs.filter((j) => j.added).length} added); follow with: cineseg queue status --queue ${redactQueueUrl(opts.queueUrl)}`].join('\n')}\n`,
    );
    return r.rows.some((x) => x.status === 'failed') ? 1 : 0;
  }
  process.stdout.write(`${formatBatchTable(r.rows)}\n`);
  return r.rows.some((x) => x.status === 'failed') ? 1 : 0;
}
