/**
 * `cineseg batch <folder|list-file> --prompts <file> --out <dir>`: tracks every clip of a folder
 * (or a list file) into the annotation store and exports each, resumably — a second run after a
 * crash skips finished clips and continues partial ones from the store (store/track-to-store.ts).
 * Clips and the prompts file: see batch-inputs.ts.
 *
 * With `--queue redis://…` the clips are not tracked here: each becomes one BullMQ job that
 * `cineseg worker` processes, on this machine or others, into the shared store (`--store
 * postgres://…`); batch then follows the jobs to their end with the same bars and table, or with
 * `--no-wait` returns once they are queued (queue-batch.ts).
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { defaultBundleDir, loadBundle } from '../model/bundle.js';
import { ModelSessions, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { defaultStoreSpec, openStore } from '../store/open-store.js';
import { registerClipFile } from '../store/register-clip.js';
import type { MaskRecord, SessionRecord } from '../store/store-records.js';
import { trackSessionToStore } from '../store/track-to-store.js';
import { clipPromptEntries, findBatchInputs, readBatchPrompts, toStorePrompts, type BatchClip, type BatchPromptEntry, type SamplePromptKind } from './batch-inputs.js';
import { batchProgress, exportBatchSession, formatBatchTable, type BatchRow, type BatchStatus } from './batch-report.js';
import { EXPORT_FORMATS, type ExportFormat } from './export-command.js';
import { epFlags, EP_HELP, STRICT_EP_HELP, VERBOSE_HELP } from './ep-options.js';
import { runQueuedBatch } from './queue-batch.js';
import { STORE_SPEC_HELP } from './store-option.js';

// The inputs moved to batch-inputs.ts; they stay importable from here.
export { clipPromptEntries, findBatchClips, findBatchInputs, readBatchList, readBatchPrompts, samplePrompts, toStorePrompts } from './batch-inputs.js';
export type { BatchClip, BatchPromptEntry, SamplePromptKind } from './batch-inputs.js';

export interface BatchOptions {
  folder: string;
  out: string;
  /** Prompts file (see the module comment). */
  prompts?: string;
  samplePrompt?: SamplePromptKind;
  store?: string;
  concurrency?: number;
  model?: string;
  ep?: ExecutionProviderRequest;
  /** No fallback from `ep`; onnxruntime's warnings shown (see ep-options.ts). */
  strictEp?: boolean;
  verbose?: boolean;
  threads?: number;
  /** Export formats per clip (default ['vis']). */
  formats?: ExportFormat[];
  /** Called after every store commit (the batch's acknowledgements). */
  onCommit?: (clip: string, records: MaskRecord[]) => void;
  onClipProgress?: (clip: string, done: number, total: number) => void;
  onClipEnd?: (row: BatchRow) => void;
  log?: (line: string) => void;
}

export type { BatchRow, BatchStatus } from './batch-report.js';
export { formatBatchTable } from './batch-report.js';

/**
 * Runs a batch (see the module comment) and returns one summary row per clip. Clips fail alone:
 * a failed clip is reported in its row and the others go on.
 */
export async function runBatch(opts: BatchOptions): Promise<BatchRow[]> {
  const log = opts.log ?? (() => undefined);
  const clips = await findBatchInputs(opts.folder);
  if (clips.length === 0) throw new CinesegError(ErrorCode.E_INPUT_EMPTY, `no clips in ${opts.folder}`);
  const url = clips.find((c) => /^https?:\/\//i.test(c.path));
  if (url) throw new CinesegError(ErrorCode.E_USAGE, `${url.path}: clips at URLs are read by queue workers only (batch --queue)`);
  const fileprompts = opts.prompts ? readBatchPrompts(opts.prompts) : null;
  const formats = opts.formats ?? ['vis'];
  const outDir = resolve(opts.out);
  const batchKey = outDir;
  const store = await openStore(opts.store ?? defaultStoreSpec());
  let sessions: ModelSessions | null = null;
  const rows: BatchRow[] = new Array(clips.length);
  try {
    sessions = await ModelSessions.create(loadBundle(opts.model ?? defaultBundleDir()), {
      ep: opts.ep ?? 'auto',
      ...(opts.strictEp ? { strictEp: true } : {}),
      ...(opts.verbose ? { verbose: true } : {}),
      log,
      ...(opts.threads ? { threads: opts.threads } : {}),
    });
    const models = sessions;
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= clips.length) return;
        rows[i] = await trackClip(store, models, clips[i]!, { ...opts, fileprompts, formats, outDir, batchKey, log });
        opts.onClipEnd?.(rows[i]!);
      }
    };
    const n = Math.max(1, Math.min(opts.concurrency ?? 1, clips.length));
    await Promise.all(Array.from({ length: n }, worker));
    return rows;
  } finally {
    await sessions?.destroy();
    await store.destroy();
  }
}

/** One clip of {@link runBatch}: skipped when its session is done, else tracked (or resumed) and exported. */
async function trackClip(
  store: AnnotationStore,
  sessions: ModelSessions,
  clip: BatchClip,
  o: BatchOptions & { fileprompts: Map<string, BatchPromptEntry[]> | null; formats: readonly ExportFormat[]; outDir: string; batchKey: string; log: (l: string) => void },
): Promise<BatchRow> {
  const t0 = performance.now();
  let session: SessionRecord | null = null;
  try {
    const rec = await registerClipFile(store, clip.path);
    session = (await store.listSessions({ clipId: rec.id })).find((s) => s.meta.batch === o.batchKey) ?? null;
    const finish = async (sid: string, status: BatchStatus, framesWritten: number): Promise<BatchRow> => {
      await exportBatchSession(store, sid, o.outDir, clip.name, o.formats);
      return { clip: clip.name, status, sessionId: sid, frames: rec.numFrames, objects: (await store.listObjects(sid)).length, framesWritten, seconds: (performance.now() - t0) / 1000 };
    };
    if (session?.status === 'done') return await finish(session.id, 'skipped', 0);
    const resumed = session !== null;
    if (!session) {
      const entries = clipPromptEntries(clip, o.fileprompts, o.samplePrompt);
      if (!entries || entries.length === 0) throw new CinesegError(ErrorCode.E_USAGE, `no prompts for clip "${clip.name}"`);
      const prompts = toStorePrompts(entries, rec.width, rec.height);
      // Session and prompts commit together: a crash leaves either nothing or all of it.
      session = await store.transaction(async (tx) => {
        const s = await tx.createSession(rec.id, { meta: { batch: o.batchKey, clip: clip.name, model: sessions.bundle.name } });
        for (const p of prompts) await tx.addPrompt(s.id, p);
        return s;
      });
    }
    const sid = session.id;
    const r = await trackSessionToStore({
      store,
      sessionId: sid,
      video: clip.path,
      sessions,
      ...(o.onCommit ? { onCommit: (recs: MaskRecord[]) => o.onCommit!(clip.name, recs) } : {}),
      onProgress: (d, t) => o.onClipProgress?.(clip.name, d, t),
    });
    if (!r.complete) throw new CinesegError(ErrorCode.E_INTERNAL, `clip "${clip.name}" ended with frames missing`);
    await store.setSessionStatus(sid, 'done');
    return await finish(sid, resumed ? 'resumed' : 'done', r.framesWritten);
  } catch (err) {
    const e = toCinesegError(err);
    o.log(`${clip.name}: ${e.toLine()}`);
    return { clip: clip.name, status: 'failed', sessionId: session?.id ?? null, frames: 0, objects: 0, framesWritten: 0, seconds: (performance.now() - t0) / 1000, error: e.toLine() };
  }
}

export function registerBatch(program: Command): void {
  program
    .command('batch')
    .description('Track every clip of a folder (or list file) into the store and export each; resumable after a crash; with --queue, as jobs for workers')
    .argument('<folder|list>', 'folder of clips (video or DICOM files, or sub-folders with clip.* and prompts.json), or a file listing one clip path (or, with --queue, URL) per line')
    .option('--prompts <file>', 'JSON: clip name → [{object, frame, point|box|mask}] ("*" for all clips)')
    .option('--sample-prompt <kind>', "without --prompts: which prompt of a clip folder's prompts.json to use (point, box, mask)", 'box')
    .option('--out <dir>', 'output folder (one sub-folder per clip); required without --queue')
    .option('--store <spec>', `where sessions and masks go: ${STORE_SPEC_HELP}`)
    .option('--concurrency <n>', 'clips tracked at once (without --queue)', '1')
    .option('--format <list>', `export formats, comma-separated (${EXPORT_FORMATS.join(', ')})`, 'vis')
    .option('--model <bundle>', 'model bundle folder (default: the shipped tiny bundle); with --queue, workers must run a bundle of the same name')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--strict-ep', STRICT_EP_HELP)
    .option('--verbose', VERBOSE_HELP)
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--print-acks', 'print one line per committed mask on stdout: ack <clip> <object> <frame> <mask id> <counts sha1>')
    .option('--queue <url>', 'put one job per clip on the BullMQ queue in this Redis (redis://host:port) for `cineseg worker`s, instead of tracking here')
    .option('--no-wait', 'with --queue: return once the jobs are queued, instead of following them to the end')
    .option('--batch-key <key>', "with --queue: the batch's name in the store and in job ids (default: the --out folder, else the folder or list file)")
    .action(async (folder: string, o: Record<string, string | boolean | undefined>) => {
      const kind = String(o.samplePrompt);
      if (!['point', 'box', 'mask'].includes(kind)) throw new CinesegError(ErrorCode.E_USAGE, '--sample-prompt must be point, box or mask');
      const formats = String(o.format)
        .split(',')
        .map((f) => f.trim()) as ExportFormat[];
      for (const f of formats) if (!(EXPORT_FORMATS as readonly string[]).includes(f)) throw new CinesegError(ErrorCode.E_USAGE, `unknown format "${f}"; choose from ${EXPORT_FORMATS.join(', ')}`);
      const log = (l: string) => process.stderr.write(`${l}\n`);
      if (typeof o.queue === 'string') {
        const code = await runQueuedBatch({
          input: folder,
          queueUrl: o.queue,
          store: typeof o.store === 'string' ? o.store : defaultStoreSpec(),
          ...(o.prompts ? { prompts: String(o.prompts) } : {}),
          samplePrompt: kind as SamplePromptKind,
          ...(typeof o.out === 'string' ? { out: o.out } : {}),
          formats,
          ...(typeof o.model === 'string' ? { model: o.model } : {}),
          ...(typeof o.batchKey === 'string' ? { batchKey: o.batchKey } : {}),
          wait: o.wait !== false,
          log,
        });
        process.exitCode = code;
        return;
      }
      if (o.wait === false || o.batchKey !== undefined) throw new CinesegError(ErrorCode.E_USAGE, '--no-wait and --batch-key go with --queue');
      if (typeof o.out !== 'string') throw new CinesegError(ErrorCode.E_USAGE, "required option '--out <dir>' not specified (or give --queue)");
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new CinesegError(ErrorCode.E_USAGE, '--concurrency must be a positive integer');
      const { createHash } = await import('node:crypto');
      const clips = await findBatchInputs(folder);
      const progress = batchProgress(clips.length);
      const rows = await runBatch({
        folder,
        out: o.out,
        ...(o.prompts ? { prompts: String(o.prompts) } : {}),
        samplePrompt: kind as SamplePromptKind,
        ...(o.store ? { store: String(o.store) } : {}),
        concurrency,
        formats,
        ...(o.model ? { model: String(o.model) } : {}),
        ...epFlags(o),
        ...(o.threads ? { threads: Number(o.threads) } : {}),
        ...(o.printAcks
          ? {
              onCommit: (clip: string, recs: MaskRecord[]) => {
                // Printed only after the commit returned: each line is a mask the store holds.
                const lines = recs.map((r) => `ack ${clip} ${r.objectId} ${r.frame} ${r.id} ${createHash('sha1').update(r.rle.counts).digest('hex')}\n`);
                process.stdout.write(lines.join(''));
              },
            }
          : {}),
        onClipProgress: progress.clip,
        onClipEnd: () => progress.clipEnd(),
        log,
      });
      progress.end();
      process.stdout.write(`${formatBatchTable(rows)}\n`);
      if (rows.some((r) => r.status === 'failed')) process.exitCode = 1;
    });
}
