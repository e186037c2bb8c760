/**
 * `cineseg serve`: the player, clips over HLS, and the tracking protocol over a WebSocket.
 */
import type { Command } from 'commander';
import { CinesegError, ErrorCode } from '../errors.js';
import type { ExecutionProviderRequest } from '../model/ort-sessions.js';
import { startServer } from '../server/http-server.js';
import { defaultStorePath } from '../store/session-store.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve the player: annotate recorded clips (HLS) or a live source, masks streamed over a WebSocket')
    .option('--media <dir...>', 'folders with clips (default: the repository samples: samples/generated, samples/real)')
    .option('--live <source>', 'live source: a URL (rtsp://, udp://, http://…), - for stdin, or loop:<file> to play a file as if live')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', '8080')
    .option('--model <bundle>', 'model bundle folder (default: the shipped tiny bundle)')
    .option('--ep <provider>', 'execution provider: auto, cpu, cuda, tensorrt or webgpu', 'auto')
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--store <file>', 'SQLite store for prompts and masks (default: $CINESEG_STORE, else ./cineseg.db)')
    .option('--no-store', 'keep prompts and masks in memory only')
    .action(async (o: Record<string, unknown>) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CinesegError(ErrorCode.E_USAGE, `--port must be 0..65535, got "${String(o.port)}"`);
      const server = await startServer({
        ...(o.media ? { media: o.media as string[] } : {}),
        ...(o.live ? { live: String(o.live) } : {}),
        host: String(o.host),
        port,
        ...(o.model ? { model: String(o.model) } : {}),
        ep: String(o.ep) as ExecutionProviderRequest,
        ...(o.threads ? { threads: Number(o.threads) } : {}),
        ...(o.store === false ? {} : { store: typeof o.store === 'string' ? o.store : defaultStorePath() }),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stdout.write(`cineseg serving on ${server.url}\n`);
      const stop = () => {
        void server.destroy().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
