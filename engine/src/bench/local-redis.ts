/**
 * A throwaway redis-server on a loopback port, for the tests and the bench — never used by the
 * product (which connects to a Redis someone runs, through `--queue redis://…`).
 *
 * Nothing is persisted (`--save ''`, no AOF): the queue tests want a fresh, empty Redis each time,
 * and a kill of the server is not what they test (a kill of a worker is). Ready once it answers
 * PING; spoken to over a bare socket so this file needs no Redis client of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface LocalRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its temp dir. */
  stop(): Promise<void>;
}

/** One PING over a fresh socket: true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Starts redis-server on a free loopback port; resolves once it answers PING. */
export async function startRedis(opts: { timeoutMs?: number } = {}): Promise<LocalRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'cineseg-redis-'));
  // Another process may take the free port between the probe and the bind: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const spawnError = new Promise<Error>((r) => child.once('error', r));
    const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
    let ready = false;
    let failure: Error | null = null;
    while (!ready && failure === null) {
      const early = await Promise.race([spawnError, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
      if (early) failure = new Error(`redis-server could not start (install Debian's redis-server: scripts/setup.sh does): ${early.message}`);
      else if (child.exitCode !== null) failure = new Error(`redis-server exited with ${child.exitCode}: ${log.trim()}`);
      else if (await ping(port)) ready = true;
      else if (Date.now() > deadline) failure = new Error(`redis-server did not answer PING on port ${port} in time: ${log.trim()}`);
    }
    if (ready) {
      let stopped: Promise<void> | null = null;
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        stop() {
          stopped ??= (async () => {
            const gone = exited(child);
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            await gone;
            clearTimeout(t);
            await rm(dir, { recursive: true, force: true });
          })();
          return stopped;
        },
      };
    }
    // A binary that never started (ENOENT) has no pid and may never emit 'exit'.
    if (child.pid !== undefined) {
      child.kill('SIGKILL');
      await exited(child);
    }
    const portTaken = /Address already in use/i.test(log);
    if (!portTaken || attempt >= 4) {
      await rm(dir, { recursive: true, force: true });
      throw failure!;
    }
  }
}
