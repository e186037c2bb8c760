/**
 * `cineseg queue status|retry --queue redis://…`: what the clip queue holds (counts per state,
 * active jobs with progress, failed jobs with their error codes) and putting failed jobs back.
 */
import type { Command } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';
import { ClipQueue, COUNTED_STATES, type QueueStatus } from '../queue/clip-queue.js';

/** The status as people read it: one counts line, then the active and the failed jobs. */
export function formatQueueStatus(s: QueueStatus): string {
  const lines = [`queue ${s.queue}: ${COUNTED_STATES.map((k) => `${s.counts[k]} ${k}`).join(', ')}`];
  const table = (head: string[], rows: string[][]) => {
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((x, c) => x.padEnd(widths[c]!))
        .join('  ')
        .trimEnd();
    return [line(head), ...rows.map(line)];
  };
  if (s.active.length > 0) {
    lines.push('', 'active:');
    lines.push(
      ...table(
        ['job', 'clip', 'worker', 'progress'],
        s.active.map((a) => [a.id, a.clip, a.worker ?? '', a.progress ? `${a.progress.done}/${a.progress.total}` : '']),
      ),
    );
  }
  if (s.failed.length > 0) {
    lines.push('', 'failed:');
    lines.push(
      ...table(
        ['job', 'clip', 'code', 'attempts', 'error'],
        s.failed.map((f) => [f.id, f.clip, f.code ?? '', String(f.attemptsMade), f.reason.replace(/^E_[A-Z0-9_]+: /, '')]),
      ),
    );
    lines.push('', `retry with: cineseg queue retry --queue <url> <job> (or --all)`);
  }
  return lines.join('\n');
}

async function withQueue<T>(url: string, fn: (q: ClipQueue) => Promise<T>): Promise<T> {
  const q = await ClipQueue.open(url);
  try {
    return await fn(q);
  } finally {
    await q.destroy();
  }
}

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('The clip queue of batch --queue and worker: status, retry');
  queue
    .command('status')
    .description('Jobs waiting, active, completed, failed and delayed; failed jobs with their error codes')
    .requiredOption('--queue <url>', 'Redis holding the queue: redis://[:password@]host:port')
    .option('--json', 'print the status as JSON')
    .action(async (o: { queue: string; json?: boolean }) => {
      const s = await withQueue(o.queue, (q) => q.status());
      process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatQueueStatus(s)}\n`);
    });
  queue
    .command('retry')
    .description('Put failed jobs back to wait (their attempts counted afresh)')
    .argument('[job]', 'the job id (see queue status)')
    .requiredOption('--queue <url>', 'Redis holding the queue: redis://[:password@]host:port')
    .option('--all', 'every failed job')
    .action(async (job: string | undefined, o: { queue: string; all?: boolean }) => {
      if ((job === undefined) === !o.all) throw new CinesegError(ErrorCode.E_USAGE, 'name one failed job, or give --all');
      const ids = await withQueue(o.queue, (q) => q.retry(o.all ? 'all' : { jobId: job! }));
      process.stdout.write(`${ids.length} job(s) retried${ids.length ? `: ${ids.join(' ')}` : ''}\n`);
    });
}
