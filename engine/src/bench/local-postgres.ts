/**
 * A throwaway PostgreSQL cluster on a loopback port, for the tests and the bench — never used by
 * the product (which connects to a database someone runs, through `--store postgres://…`).
 *
 * initdb into a temp dir, pg_ctl start on a free port of 127.0.0.1 with its socket in that dir,
 * database `cineseg` owned by role `cineseg` (trust auth: nothing listens beyond loopback).
 * fsync stays on: the crash tests kill the server and count on what it acknowledged surviving.
 * PostgreSQL refuses to run as root, so under uid 0 initdb and pg_ctl run as the `postgres` user.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

const run = promisify(execFile);

export interface LocalPostgres {
  /** postgres://cineseg@127.0.0.1:<port>/cineseg */
  url: string;
  port: number;
  /** The cluster's data directory (inside the temp dir). */
  dataDir: string;
  /** Kills the server as a crash would (pg_ctl stop -m immediate: no checkpoint, WAL replay on start). */
  kill(): Promise<void>;
  /** Starts it again on the same port after kill(); what was committed before must be there. */
  restart(): Promise<void>;
  /** Stops the server (immediate) and removes the temp dir. */
  stop(): Promise<void>;
}

/** The newest PostgreSQL installed under /usr/lib/postgresql (Debian's layout). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(`no PostgreSQL under ${root} (install Debian's postgresql: scripts/setup.sh does)`);
  }
  return join(root, versions[0]!, 'bin');
}

/** The uid/gid of `postgres` when we are root (PostgreSQL refuses root), else null. */
async function postgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

export async function startPostgres(opts: { dir?: string } = {}): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  const user = await postgresUser();
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'cineseg-pg-')));
  const dataDir = join(dir, 'data');
  if (user) await chown(dir, user.uid, user.gid);
  const as = async (cmd: string, args: string[]): Promise<string> => {
    const [file, argv] = user ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
    try {
      const { stdout } = await run(file, argv, { maxBuffer: 16 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${cmd} failed: ${(e.stderr || e.message).trim()}`);
    }
  };
  await as('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'cineseg', '--no-sync', '-E', 'UTF8', '--locale=C']);

  let port = 0;
  const start = async (): Promise<void> => {
    const options = [
      '-c listen_addresses=127.0.0.1',
      `-p ${port}`,
      `-k ${dir}`,
      '-c fsync=on',
      // A small shared cluster: the tests run several at once on a 2-core box.
      '-c shared_buffers=32MB',
      '-c max_connections=60',
    ].join(' ');
    await as('pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', join(dir, 'log'), '-o', options]);
  };
  // Another process may take the free port between the probe and the bind: try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 4) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const adminUrl = `postgres://cineseg@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE cineseg');
  } finally {
    await admin.end();
  }

  let running = true;
  const kill = async (): Promise<void> => {
    if (!running) return;
    running = false;
    await as('pg_ctl', ['stop', '-m', 'immediate', '-w', '-D', dataDir]).catch(() => undefined);
  };
  return {
    url: `postgres://cineseg@127.0.0.1:${port}/cineseg`,
    port,
    dataDir,
    kill,
    async restart() {
      if (running) return;
      await start();
      running = true;
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
