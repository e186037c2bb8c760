/**
 * `cineseg worker --queue redis://… --store postgres://…`: takes clip jobs that `cineseg batch
 * --queue` put on the queue, on any machine that reaches the Redis and the store, and tracks each
 * into the store (queue/clip-worker.ts). One model per process; `--concurrency` jobs share it.
 *
 * Runs until SIGTERM or SIGINT: then it takes no new job, lets the active ones finish for up to
 * `--drain-seconds`, hands back what is still running, and exits 0. A second signal hands back at once.
 * Its lines are text for a person at a terminal; `--log-json` writes them as the server's JSON
 * lines (pino, levels, patient fields censored) for a fleet's log shipper.
 */
import type { Command } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';
import { defaultBundleDir, loadBundle } from '../model/bundle.js';
import { ModelSessions } from '../model/ort-sessions.js';
import { parseQueueUrl, redactQueueUrl } from '../queue/clip-queue.js';
import { ClipWorker } from '../queue/clip-worker.js';
import { createServerLogger, lineLog } from '../server/logger.js';
import { defaultStoreSpec, openStore } from '../store/open-store.js';
import { epFlags, EP_HELP, STRICT_EP_HELP, VERBOSE_HELP } from './ep-options.js';
import { STORE_SPEC_HELP } from './store-option.js';

function positive(o: Record<string, unknown>, key: string, flag: string, integer: boolean): number {
  const v = Number(o[key]);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new CinesegError(ErrorCode.E_USAGE, `${flag} must be a positive ${integer ? 'integer' : 'number'}`);
  return v;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Take clip jobs from the queue (batch --queue) and track them into the shared store, until SIGTERM')
    .requiredOption('--queue <url>', 'Redis holding the queue: redis://[:password@]host:port')
    .option('--store <spec>', `where masks go: ${STORE_SPEC_HELP}`)
    .option('--model <bundle>', 'model bundle folder (default: the shipped tiny bundle); jobs that ask for another model fail here and are retried elsewhere')
    .option('--concurrency <n>', 'jobs at once in this process (one model shared)', '1')
    .option('--name <name>', 'this worker in queue status and job results (default: host:pid)')
    .option('--drain-seconds <s>', 'on SIGTERM/SIGINT, how long active jobs may finish before they are handed back', '60')
    .option('--lock-seconds <s>', "a job's lock: how soon a job of a worker that died goes to another", '30')
    .option('--stalled-seconds <s>', 'how often this worker looks for jobs of dead workers', '30')
    .option('--commit-masks <n>', 'masks per store transaction: fewer, larger commits load a shared store less; a killed worker loses at most one uncommitted batch, which the next one redoes', '64')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--strict-ep', STRICT_EP_HELP)
    .option('--verbose', VERBOSE_HELP)
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--log-json', "log as JSON lines (the server's format: level, time, pid, msg) instead of text")
    .option('--print-acks', 'print one line per committed mask on stdout: ack <job id> <clip> <object> <frame> <mask id>')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const concurrency = positive(o, 'concurrency', '--concurrency', true);
      const drainSeconds = Number(o.drainSeconds);
      if (!Number.isFinite(drainSeconds) || drainSeconds < 0) throw new CinesegError(ErrorCode.E_USAGE, '--drain-seconds must be a number of seconds (0 hands back at once)');
      const lockMs = positive(o, 'lockSeconds', '--lock-seconds', false) * 1000;
      const stalledMs = positive(o, 'stalledSeconds', '--stalled-seconds', false) * 1000;
      const commitMasks = positive(o, 'commitMasks', '--commit-masks', true);
      const threads = o.threads === undefined ? undefined : positive(o, 'threads', '--threads', true);
      const toStderr = (l: string) => process.stderr.write(`${l}\n`);
      // The worker's lines carry no user path beyond the store's, which it prints on purpose.
      const log = o.logJson ? lineLog(createServerLogger({ redact: (t) => t, write: toStderr })) : toStderr;
      const queueUrl = parseQueueUrl(String(o.queue));
      const store = await openStore(typeof o.store === 'string' ? o.store : defaultStoreSpec());
      let sessions: ModelSessions | null = null;
      let worker: ClipWorker | null = null;
      try {
        sessions = await ModelSessions.create(loadBundle(typeof o.model === 'string' ? o.model : defaultBundleDir()), {
          ...epFlags(o),
          log,
          ...(threads ? { threads } : {}),
        });
        worker = await ClipWorker.start({
          queueUrl,
          store,
          sessions,
          concurrency,
          ...(typeof o.name === 'string' ? { name: o.name } : {}),
          lockDurationMs: lockMs,
          stalledIntervalMs: stalledMs,
          drainSeconds,
          commitMasks,
          log,
          ...(o.printAcks
            ? {
                onCommit: (job: { id: string; name: string }, recs) => {
                  // Printed only after the commit returned: each line is a mask the store holds.
                  process.stdout.write(recs.map((r) => `ack ${job.id} ${job.name} ${r.objectId} ${r.frame} ${r.id}\n`).join(''));
                },
              }
            : {}),
        });
        const w = worker;
        log(`worker ${w.name} taking jobs from ${redactQueueUrl(queueUrl)} into ${store.location} (model ${sessions.bundle.name}, ${sessions.ep.ep}, concurrency ${concurrency})`);
        await new Promise<void>((resolveP) => {
          let signals = 0;
          const onSignal = (sig: NodeJS.Signals) => {
            signals++;
            log(signals === 1 ? `${sig}: finishing the active job(s) (at most ${drainSeconds} s), then stopping` : `${sig} again: handing the active job(s) back now`);
            void w.drain(signals > 1 ? { now: true } : {}).then(resolveP, resolveP);
          };
          process.on('SIGTERM', onSignal);
          process.on('SIGINT', onSignal);
        });
        log(`worker ${w.name} stopped`);
      } finally {
        await worker?.destroy().catch(() => undefined);
        await sessions?.destroy();
        await store.destroy();
      }
    });
}
