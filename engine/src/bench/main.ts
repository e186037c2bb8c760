#!/usr/bin/env node
/**
 * `npm run bench [-- --quick]`: every benchmark of the project in one run, printed as ONE JSON object
 * on stdout (progress goes to stderr). Each ratio is measured side by side inside its own bench, on
 * the same clip and the same machine, so the figures are comparable between machines only as ratios.
 */
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchDecode } from './decode-bench.js';
import { benchTrack } from './track-bench.js';
import { benchLiveLatency } from './live-latency-bench.js';
import { toCinesegError } from '../errors.js';

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const outArg = process.argv.indexOf('--out');
  const started = Date.now();
  const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

  log(`decode (${quick ? 'quick' : 'full'})`);
  const decode = await benchDecode({ quick });
  log(`track (${quick ? 'quick' : 'full'})`);
  const track = await benchTrack({ quick });
  log(`live latency in Chromium (${quick ? 'quick' : 'full'})`);
  const live = await benchLiveLatency({ quick });

  const cpu = cpus();
  const result = {
    quick,
    decodeRatio: decode.decodeRatio,
    engineOverheadRatio: track.engineOverheadRatio,
    multiObject8to1Ratio: track.multiObject8to1Ratio,
    liveLatencyP50Ms: live.liveLatencyP50Ms,
    liveLatencyP99Ms: live.liveLatencyP99Ms,
    fps: track.fps,
    decode,
    track,
    live,
    machine: {
      cpu: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${platform()} ${release()} ${arch()}`,
      node: process.version,
    },
    wallSeconds: (Date.now() - started) / 1000,
    date: new Date().toISOString(),
  };
  const json = JSON.stringify(result, null, 2);
  process.stdout.write(`${json}\n`);
  const out = outArg >= 0 ? process.argv[outArg + 1] : undefined;
  if (out) {
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, json);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${toCinesegError(err).toLine()}\n`);
  process.exitCode = 1;
});
