/**
 * `cineseg serve`: the player, clips over HLS, and the tracking protocol over a WebSocket.
 */
import { existsSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Command } from 'commander';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { startServer, type CinesegServer } from '../server/http-server.js';
import type { ServerLimits } from '../server/limits.js';
import { installProcessGuards } from '../server/process-guards.js';
import { defaultStoreSpec } from '../store/open-store.js';
import type { SamOptions } from '../track/tracking-engine.js';
import { parseBoolOption } from './track-command.js';
import { epFlags, EP_HELP, STRICT_EP_HELP, VERBOSE_HELP } from './ep-options.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve the player: annotate recorded clips (HLS) or a live source, masks streamed over a WebSocket')
    .option('--media <dir...>', 'folders with clips (default: the repository samples: samples/generated, samples/real)')
    .option('--live <source>', 'live source: a URL (rtsp://, udp://, http://…), - for stdin, or loop:<file> to play a file as if live')
    .option('--live-input-options <options>', 'live: ffmpeg options before the input, e.g. "-f v4l2 -video_size 1280x720" for a capture card')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', '8080')
    .option('--model <bundle>', 'model bundle folder (default: the shipped tiny bundle)')
    .option('--ep <provider>', EP_HELP, 'auto')
    .option('--strict-ep', STRICT_EP_HELP)
    .option('--verbose', VERBOSE_HELP)
    .option('--threads <n>', "onnxruntime intra-op threads (default: one core left free on machines with up to 4 cores, else onnxruntime's default)")
    .option('--no-ort-worker', 'run the ONNX graphs on the main thread (default: in a worker thread, so they never block the event loop; also CINESEG_ORT_WORKER=0)')
    .option(
      '--store <path|url>',
      'store for prompts and masks: a SQLite file, or postgres://user:pass@host/db shared by several servers (default: $CINESEG_STORE, else ~/.local/share/cineseg/cineseg.db, under $XDG_DATA_HOME when set)',
    )
    .option('--no-store', 'keep prompts and masks in memory only')
    .option('--live-store <every>', 'live: store tracked masks every <ms> (e.g. 1000), "all" frames, or "none" (prompts and their masks are always stored)', '1000')
    .option(
      '--live-record-pictures [dir]',
      "live: keep each tracked frame's JPEG with the masks for review (GET /api/live-records; default folder: live-pictures beside the store; ≈ 2–3 GB per hour at 480p)",
    )
    .option('--live-record-max-mb <n>', 'live: bound of the picture folder in MB, oldest pictures pruned first (default 2048)')
    .option('--token <token>', 'token clients must present (default: $CINESEG_TOKEN; generated and printed when --host is not loopback)')
    .option('--allow-origin <origin...>', 'browser origins allowed besides the server itself, e.g. https://viewer.example.org')
    .option('--max-connections <n>', 'WebSocket connections open at once (default 64)')
    .option('--max-sessions <n>', 'sessions open at once on the server (default 16)')
    .option('--max-sessions-per-connection <n>', 'sessions open at once on one connection (default 4)')
    .option('--prompt-rate <n>', 'prompts per second per session after the burst (default 10)')
    .option('--prompt-burst <n>', 'prompts a session may send at once (default 20)')
    .option('--max-message-bytes <n>', 'largest WebSocket message a client may send (default 2097152)')
    .option(
      '--add-all-frames-to-correct-as-cond <true|false>',
      "SAM2 add_all_frames_to_correct_as_cond: a correction on a tracked frame becomes a conditioning frame (default true; Meta's false); a recorded startSession may override it",
    )
    .option('--non-overlap-masks', "SAM2 non_overlap_masks: output masks disjoint, highest logit wins (default off, as Meta's)")
    .option('--non-overlap-masks-for-mem-enc', "SAM2 non_overlap_masks_for_mem_enc: the same on the memory encoder's input (default off, as Meta's)")
    .option('--heartbeat <ms>', 'WebSocket ping interval; a client that answers 2 pings in a row with nothing is cut off (default 15000, 0: off)')
    .option('--idle-timeout <ms>', 'close a connection that sent nothing for this long while none of its sessions is live or propagating (default 1800000, 0: never)')
    .option('--resume-grace <ms>', 'keep the sessions of a dropped connection this long for the client to resume them (default 30000, 0: release at once)')
    .option('--drain-timeout <ms>', 'how long propagation waits for a viewer that takes nothing before its connection is closed (default 30000)')
    .action(async (o: Record<string, unknown>) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CinesegError(ErrorCode.E_USAGE, `--port must be 0..65535, got "${String(o.port)}"`);
      const limits: Partial<ServerLimits> = {};
      const flags: [string, keyof ServerLimits][] = [
        ['maxConnections', 'maxConnections'],
        ['maxSessions', 'maxSessions'],
        ['maxSessionsPerConnection', 'maxSessionsPerConnection'],
        ['promptRate', 'promptsPerSecond'],
        ['promptBurst', 'promptBurst'],
        ['maxMessageBytes', 'maxMessageBytes'],
        ['heartbeat', 'heartbeatIntervalMs'],
        ['idleTimeout', 'idleTimeoutMs'],
        ['resumeGrace', 'resumeGraceMs'],
        ['drainTimeout', 'drainTimeoutMs'],
      ];
      for (const [flag, key] of flags) if (o[flag] !== undefined) limits[key] = Number(o[flag]);
      // A mistyped folder would otherwise serve an empty clip list without a word.
      for (const dir of (o.media as string[] | undefined) ?? []) {
        if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `--media ${dir}: no such folder`);
      }
      const token = typeof o.token === 'string' ? o.token : process.env.CINESEG_TOKEN || undefined;
      const ls = String(o.liveStore);
      const liveStoreIntervalMs = ls === 'all' ? 0 : ls === 'none' ? -1 : Number(ls);
      if (!Number.isFinite(liveStoreIntervalMs) || liveStoreIntervalMs < -1) throw new CinesegError(ErrorCode.E_USAGE, `--live-store must be a number of ms, "all" or "none", got "${ls}"`);
      const server = await startServer({
        ...(o.media ? { media: o.media as string[] } : {}),
        ...(o.live ? { live: String(o.live), liveStoreIntervalMs } : {}),
        ...(o.liveRecordPictures ? { liveRecordPictures: typeof o.liveRecordPictures === 'string' ? o.liveRecordPictures : true } : {}),
        ...(o.liveRecordMaxMb !== undefined ? { liveRecordMaxBytes: positiveMb(o.liveRecordMaxMb) } : {}),
        ...(typeof o.liveInputOptions === 'string' ? { liveInputOptions: o.liveInputOptions.trim().split(/\s+/).filter(Boolean) } : {}),
        host: String(o.host),
        port,
        ...(o.model ? { model: String(o.model) } : {}),
        ...epFlags(o),
        ...(o.threads ? { threads: Number(o.threads) } : {}),
        ...(o.ortWorker === false ? { worker: false } : {}),
        ...(o.store === false ? {} : { store: typeof o.store === 'string' ? o.store : defaultStoreSpec() }),
        ...(token === undefined ? {} : { token }),
        ...(o.allowOrigin ? { allowOrigins: o.allowOrigin as string[] } : {}),
        limits,
        sam: samFromFlags(o),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stdout.write(servingLines(server).join('\n') + '\n');
      let stopping: Promise<void> | null = null;
      // A failing destroy must still end the process, and not as an unhandled rejection.
      const stop = (code: number) => {
        stopping ??= server
          .destroy()
          .catch((e: unknown) => {
            process.stderr.write(`stopping the server failed: ${String((e as Error)?.message ?? e)}\n`);
          })
          .finally(() => process.exit(code));
      };
      installProcessGuards({
        log: (l) => server.logger.error(l),
        onRejection: (e) => server.metrics.error(toCinesegError(e).code),
        onFatal: () => stop(1),
      });
      process.once('SIGINT', () => stop(0));
      process.once('SIGTERM', () => stop(0));
    });
}

/** `--live-record-max-mb` in bytes. */
function positiveMb(v: unknown): number {
  const mb = Number(v);
  if (!Number.isFinite(mb) || mb <= 0) throw new CinesegError(ErrorCode.E_USAGE, `--live-record-max-mb must be a positive number, got "${String(v)}"`);
  return Math.round(mb * 1024 * 1024);
}

/** The SAM 2 flags of `serve` (and `track`) as SamOptions; unset flags stay unset (engine defaults). */
export function samFromFlags(o: Record<string, unknown>): SamOptions {
  const addAll = parseBoolOption(o.addAllFramesToCorrectAsCond, '--add-all-frames-to-correct-as-cond');
  return {
    ...(addAll === undefined ? {} : { addAllFramesToCorrectAsCond: addAll }),
    ...(o.nonOverlapMasks ? { nonOverlapMasks: true } : {}),
    ...(o.nonOverlapMasksForMemEnc ? { nonOverlapMasksForMemEnc: true } : {}),
  };
}

/**
 * What `serve` prints: the URL to open (with the token when it was generated here: nobody else
 * knows it), and on a wildcard address the URL for each of this machine's network addresses.
 */
export function servingLines(server: CinesegServer): string[] {
  const withToken = (u: string) => (server.token !== null && server.tokenGenerated ? `${u}?token=${encodeURIComponent(server.token)}` : u);
  const lines = [`cineseg serving on ${withToken(server.url)}`];
  if (server.host === '0.0.0.0' || server.host === '::') {
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) if (!a.internal && a.family === 'IPv4') lines.push(`  reachable at ${withToken(`http://${a.address}:${server.port}/`)}`);
    }
  }
  if (server.token !== null && !server.tokenGenerated) lines.push('  token required: open the URL with ?token=<your token> once, or send Authorization: Bearer <token>');
  if (server.token !== null) lines.push(`  metrics: ${server.url}metrics (same token, e.g. Authorization: Bearer)`);
  else lines.push(`  metrics: ${server.url}metrics`);
  return lines;
}
