#!/usr/bin/env node
// The live path's cost of metrics and logs, the hand-written versions (as of commit bd17470, read
// with `git show` and transpiled) beside prom-client and pino, in one process, interleaved runs.
// Per frame: what live-pipeline.ts does for each tracked frame (frames counter + rate window,
// latency histogram, a drop every 4th frame). Per log line: a redacted line written to /dev/null.
// Needs the engine built (npm run build -w engine) and the repository's git history.
// Usage: node scripts/bench-observability.mjs [frames=200000]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const OLD = 'bd17470';
const N = Number(process.argv[2] ?? 200_000);
const root = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'cineseg-obs-'));
const load = async (file, out) => {
  const src = execFileSync('git', ['-C', root, 'show', `${OLD}:${file}`], { encoding: 'utf8' });
  writeFileSync(join(tmp, out), ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
  return import(pathToFileURL(join(tmp, out)).href);
};
const oldMetrics = await load('engine/src/server/metrics.ts', 'old-metrics.mjs');
const oldRedact = await load('engine/src/server/log-redact.ts', 'old-log-redact.mjs');
const newMetrics = await import(pathToFileURL(join(root, 'engine/dist/server/metrics.js')).href);
const { createServerLogger, lineLog } = await import(pathToFileURL(join(root, 'engine/dist/server/logger.js')).href);
const { PathRedactor } = await import(pathToFileURL(join(root, 'engine/dist/server/path-redactor.js')).href);

function frames(m, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if ((i & 3) === 0) m.liveDropped.inc();
    m.frameTracked('live');
    m.liveLatency.observe(0.004 + (i % 40) * 0.001);
  }
  return ((performance.now() - t0) * 1e6) / n;
}

// Folders as a server has them: media folders, cache, player, repository, home.
const entries = [
  ['/home/someone/clips/cardiac', 'cardiac'],
  ['/home/someone/clips/endo', 'endo'],
  ['/var/cache/cineseg/hls', '<hls-cache>'],
  ['/opt/cineseg/player/dist', '<player>'],
  ['/opt/cineseg', '<repo>'],
  ['/home/someone', '~'],
];
const devNull = openSync('/dev/null', 'w');
const sink = (line) => writeSync(devNull, `${line}\n`);
const line = (i) => `live source: reconnect attempt ${i % 5}/5 in 100 ms (/home/someone/clips/cardiac/run${i % 7}.mp4: E_LIVE_STALLED)`;
const oldRedactor = new oldRedact.PathRedactor(entries);
const oldLog = (l) => sink(oldRedactor.redact(l));
const newRedactor = new PathRedactor(entries);
const newLog = lineLog(createServerLogger({ redact: (s) => newRedactor.redact(s), write: sink, level: 'info' }));
function logs(log, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) log(line(i));
  return ((performance.now() - t0) * 1e6) / n;
}

const om = new oldMetrics.ServerMetrics();
const nm = new newMetrics.ServerMetrics();
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const r = { oldMetricsNsPerFrame: [], promClientNsPerFrame: [], oldLogNsPerLine: [], pinoNsPerLine: [] };
(frames(om, N / 4), frames(nm, N / 4), logs(oldLog, N / 40), logs(newLog, N / 40)); // warm-up
for (let k = 0; k < 7; k++) {
  r.oldMetricsNsPerFrame.push(frames(om, N));
  r.promClientNsPerFrame.push(frames(nm, N));
  r.oldLogNsPerLine.push(logs(oldLog, N / 10));
  r.pinoNsPerLine.push(logs(newLog, N / 10));
}
const t0 = performance.now();
const text = await nm.render();
const scrapeMs = performance.now() - t0;
om.destroy();
nm.destroy();
rmSync(tmp, { recursive: true, force: true });
const out = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(median(v))]));
console.log(
  JSON.stringify(
    { node: process.version, frames: N, runs: 7, medians: out, promClientScrapeMs: Number(scrapeMs.toFixed(2)), exposedFamilies: text.split('\n').filter((l) => l.startsWith('# TYPE')).length },
    null,
    1,
  ),
);
