/**
 * `cineseg serve` as a child process (the built CLI), for what must kill a server for real
 * (kill -9 in the restore bench and the restore e2e test): started on a store and media folders,
 * ready once it printed its URL, and killed with a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_MAIN } from '../paths.js';

/** The built CLI (`npm run build` writes it). */
export const SERVE_CLI = CLI_MAIN;

export interface ServerChild {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything it wrote to stderr so far (its log). */
  log(): string;
  /** Sends `signal` and resolves once the process has gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServerChildOptions {
  store: string;
  media: string[];
  /** 0 picks a free one; give the previous port to restart "the same server". */
  port?: number;
  model?: string;
  threads?: number;
  extraArgs?: string[];
  timeoutMs?: number;
}

/** Starts `cineseg serve` and resolves once it listens. */
export function startServerChild(o: ServerChildOptions): Promise<ServerChild> {
  const args = [SERVE_CLI, 'serve', '--host', '127.0.0.1', '--port', String(o.port ?? 0), '--store', o.store, '--media', ...o.media, '--ep', 'cpu'];
  if (o.model) args.push('--model', o.model);
  if (o.threads) args.push('--threads', String(o.threads));
  args.push(...(o.extraArgs ?? []));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolveP, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cineseg serve did not start in time:\n${err}`));
    }, o.timeoutMs ?? 60_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving on (http:\/\/[^\s?]+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      const url = m[1]!;
      resolveP({
        url,
        port: Number(new URL(url).port),
        child,
        log: () => err,
        async kill(signal = 'SIGKILL') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await gone;
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cineseg serve exited (${code}) before listening:\n${err}`));
    });
  });
}
