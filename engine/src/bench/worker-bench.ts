/**
 * What one queue worker does on this machine, and what a kill costs: `cineseg worker` processes
 * (the built CLI) on a throwaway redis-server and PostgreSQL, over the same clip set cut from the
 * synthetic samples. `node engine/dist/bench/worker-bench.js [--quick]`.
 *
 * - workerClipsPerMinute for 1 and 2 worker processes: from the first job queued to the last one
 *   done. On a 2-core box two workers share the cores with ffmpeg, PostgreSQL and Redis, so the
 *   second adds far less than one worker's rate: onnxruntime's CPU time is the limit.
 * - workerMasksPerSecond: masks committed to PostgreSQL per second over the same runs.
 * - workerBytesPerMask: the masks table (rows, TOAST and indexes) per row, and the bare row.
 * - workerKillLostMasks / workerKillDuplicateMasks (goal 0): 2 workers, one SIGKILLed right after
 *   its first commit; lost = masks it acknowledged that are not current at the end; duplicates =
 *   (session, object, frame) with more than one row.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { queueBatch } from '../cli/queue-batch.js';
import { CLI_MAIN, GENERATED_SAMPLES_DIR } from '../paths.js';
import { ClipQueue, type JobEnd } from '../queue/clip-queue.js';
import { startPostgres } from './local-postgres.js';
import { startRedis } from './local-redis.js';
import { printResult } from './print-result.js';

const CLI = CLI_MAIN;

interface Proc {
  name: string;
  child: ChildProcess;
  out: () => string;
  exited: Promise<void>;
  /** Resolves with the first match of `re` in its output. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
}

function spawnWorker(name: string, queue: string, store: string, extra: string[]): Proc {
  const child = spawn(process.execPath, [CLI, 'worker', '--queue', queue, '--store', store, '--name', name, '--ep', 'cpu', '--threads', '1', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const feed = (d: Buffer) => {
    text += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', feed);
  child.stderr!.on('data', feed);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    name,
    child,
    out: () => text,
    exited,
    waitFor(re, ms = 120_000) {
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`worker ${name}: no ${re} in ${ms} ms: ${text.slice(-1500)}`)), ms);
        const check = () => {
          const m = re.exec(text);
          if (!m) return;
          clearTimeout(t);
          listeners.delete(check);
          res(m);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  await p.exited;
  clearTimeout(t);
}

/** `count` clips of `frames` frames each, cut from the samples (samples layout, with their prompts). */
function makeClips(dir: string, count: number, frames: number): void {
  const samples = GENERATED_SAMPLES_DIR;
  const kinds = readdirSync(samples)
    .filter((s) => /^(ultrasound|endoscopy)-\d+$/.test(s))
    .sort();
  for (let i = 0; i < count; i++) {
    const src = join(samples, kinds[i % kinds.length]!);
    const out = join(dir, `clip-${i}`);
    mkdirSync(out, { recursive: true });
    // A different start per repeat: the same bytes would be the same clip (content hash).
    const start = Math.floor(i / kinds.length) * 3;
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-i',
      join(src, 'clip.mp4'),
      '-vf',
      `select=gte(n\\,${start}),setpts=N/FRAME_RATE/TB`,
      '-frames:v',
      String(frames),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      join(out, 'clip.mp4'),
    ]);
    for (const f of readdirSync(src)) if (f === 'prompts.json' || f.endsWith('.png')) copyFileSync(join(src, f), join(out, f));
  }
}

export async function benchWorkers(opts: { quick?: boolean; log?: (line: string) => void } = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? (() => undefined);
  const clips = opts.quick ? 4 : 8;
  const frames = opts.quick ? 20 : 60;
  const tmp = mkdtempSync(join(tmpdir(), 'cineseg-worker-bench-'));
  const [redis, pgc] = await Promise.all([startRedis(), startPostgres()]);
  const procs: Proc[] = [];
  const queue = await ClipQueue.open(redis.url);
  const db = new pg.Client({ connectionString: pgc.url });
  try {
    const folder = join(tmp, 'clips');
    makeClips(folder, clips, frames);
    await db.connect();
    const maskCount = async () => Number((await db.query('SELECT count(*) AS n FROM masks')).rows[0].n);
    const perMinute: Record<string, number> = {};
    const masksPerSecond: Record<string, number> = {};
    for (const n of [1, 2]) {
      const ws = Array.from({ length: n }, (_, i) => spawnWorker(`bench-${n}-${i}`, redis.url, pgc.url, []));
      procs.push(...ws);
      await Promise.all(ws.map((w) => w.waitFor(/taking jobs from/)));
      const before = await maskCount();
      const t0 = performance.now();
      const { jobs } = await queueBatch({ input: folder, queueUrl: redis.url, store: pgc.url, batchKey: `bench-${n}`, wait: false });
      const ends = await queue.follow(
        jobs.map((j) => j.id),
        {},
        { pollMs: 200 },
      );
      const s = (performance.now() - t0) / 1000;
      const failed = ends.filter((e) => e.state === 'failed');
      if (failed.length) throw new Error(`worker bench: ${failed.length} job(s) failed: ${JSON.stringify(failed[0])}`);
      perMinute[String(n)] = Math.round((clips / s) * 60 * 100) / 100;
      masksPerSecond[String(n)] = Math.round(((await maskCount()) - before) / s);
      log(`worker bench: ${n} worker(s): ${clips} clips in ${s.toFixed(1)} s`);
      await Promise.all(ws.map(stop));
    }
    const size = (await db.query("SELECT pg_total_relation_size('masks') AS total, (SELECT avg(pg_column_size(m.*)) FROM masks m) AS row, (SELECT count(*) FROM masks) AS n")).rows[0];

    // The kill: 2 workers, one SIGKILLed right after its first commit of a clip.
    const fast = ['--lock-seconds', '4', '--stalled-seconds', '1', '--commit-masks', '8', '--print-acks'];
    const ws = [spawnWorker('kill-0', redis.url, pgc.url, fast), spawnWorker('kill-1', redis.url, pgc.url, fast)];
    procs.push(...ws);
    await Promise.all(ws.map((w) => w.waitFor(/taking jobs from/)));
    const { jobs } = await queueBatch({ input: folder, queueUrl: redis.url, store: pgc.url, batchKey: 'bench-kill', wait: false });
    const victim = await Promise.race(ws.map((w) => w.waitFor(/^ack (\S+) /m).then((m) => ({ w, job: m[1]! }))));
    victim.w.child.kill('SIGKILL');
    await victim.w.exited;
    const acked = [...victim.w.out().matchAll(/^ack (\S+) \S+ (\d+) (\d+) (\d+)$/gm)].map((m) => ({ job: m[1]!, objectId: Number(m[2]), frame: Number(m[3]), id: Number(m[4]) }));
    const ends = await queue.follow(
      jobs.map((j) => j.id),
      {},
      { pollMs: 200 },
    );
    const sessionOf = new Map(ends.filter((e): e is Extract<JobEnd, { state: 'completed' }> => e.state === 'completed').map((e) => [e.id, e.result.sessionId]));
    let lost = 0;
    for (const a of acked) {
      const sid = sessionOf.get(a.job);
      const r = sid ? await db.query('SELECT id FROM masks WHERE session_id = $1 AND object_id = $2 AND frame = $3 AND current', [sid, a.objectId, a.frame]) : { rows: [] };
      if (Number(r.rows[0]?.id) !== a.id) lost++;
    }
    const sids = [...sessionOf.values()];
    const dup = await db.query('SELECT coalesce(sum(c - 1), 0) AS d FROM (SELECT count(*) AS c FROM masks WHERE session_id = ANY($1) GROUP BY session_id, object_id, frame HAVING count(*) > 1) x', [
      sids,
    ]);
    const killed = ends.find((e) => e.id === victim.job);
    return {
      workerClips: clips,
      workerClipFrames: frames,
      workerClipsPerMinute: perMinute,
      workerMasksPerSecond: masksPerSecond,
      workerBytesPerMask: Math.round(Number(size.total) / Math.max(1, Number(size.n))),
      workerBytesPerMaskRow: Math.round(Number(size.row)),
      workerKillAcked: acked.length,
      workerKillLostMasks: lost,
      workerKillDuplicateMasks: Number(dup.rows[0].d),
      workerKillJobsFailed: ends.filter((e) => e.state === 'failed').length,
      workerKillResumedAfter: killed?.state === 'completed' ? killed.result.resumedAfter : null,
      workerCores: cpus().length,
    };
  } finally {
    await Promise.all(procs.map(stop));
    await db.end().catch(() => undefined);
    await queue.destroy();
    await Promise.all([redis.stop(), pgc.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printResult(benchWorkers({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) }));
}
