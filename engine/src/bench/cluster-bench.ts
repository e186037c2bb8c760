/**
 * The cluster's figures (issue 18) in one part of the bench: mask inserts into PostgreSQL and
 * SQLite side by side (store-bench.ts), and queue workers on a throwaway redis-server and PostgreSQL
 * (worker-bench.ts): clips per minute with 1 and 2 workers, and what a SIGKILLed worker costs.
 * `node engine/dist/bench/cluster-bench.js [--quick]`; `npm run bench` runs it as its `cluster` part.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printResult } from './print-result.js';
import { benchStoreInserts } from './store-bench.js';
import { benchWorkers } from './worker-bench.js';

export interface ClusterBenchResult {
  postgresMaskInsertsPerSecond: number;
  sqliteMaskInsertsPerSecond: number;
  /** Clips per minute by number of worker processes ("1", "2"). */
  workerClipsPerMinute: Record<string, number>;
  workerKillLostMasks: number;
  workerKillDuplicateMasks: number;
  store: Record<string, unknown>;
  workers: Record<string, unknown>;
}

export async function benchCluster(opts: { quick?: boolean; log?: (line: string) => void } = {}): Promise<ClusterBenchResult> {
  const store = await benchStoreInserts(opts);
  const workers = await benchWorkers(opts);
  return {
    postgresMaskInsertsPerSecond: store.postgresMaskInsertsPerSecond as number,
    sqliteMaskInsertsPerSecond: store.sqliteMaskInsertsPerSecond as number,
    workerClipsPerMinute: workers.workerClipsPerMinute as Record<string, number>,
    workerKillLostMasks: workers.workerKillLostMasks as number,
    workerKillDuplicateMasks: workers.workerKillDuplicateMasks as number,
    store,
    workers,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printResult(benchCluster({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`bench: ${l}\n`) }));
}
