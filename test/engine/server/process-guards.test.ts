/**
 * The handlers `cineseg serve` installs (process-guards.ts), in a real Node process of their own
 * (vitest keeps its own handlers in the test process): an unhandled rejection is logged with its
 * code and the process goes on serving HTTP; an uncaught exception is logged and ends it (exit 1).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../model/test-bundle.js';

let tmp: string;
let script: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-guards-'));
  script = join(tmp, 'guarded.mjs');
  // A tiny server guarded as serve guards itself: /reject leaves a promise rejected unhandled,
  // /throw throws from a timer; anything else answers "up".
  await build({
    stdin: {
      contents: `
        import { createServer } from 'node:http';
        import { installProcessGuards } from './engine/src/server/process-guards.ts';
        import { CinesegError } from './engine/src/errors.ts';
        installProcessGuards({ log: (l) => process.stderr.write(l + '\\n'), onFatal: () => process.exit(1) });
        const server = createServer((req, res) => {
          if (req.url === '/reject') Promise.reject(new CinesegError('E_STORE_WRITE', 'nobody awaited this'));
          if (req.url === '/throw') setTimeout(() => { throw new Error('thrown from a timer'); }, 0);
          res.end('up');
        });
        server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
      `,
      resolveDir: REPO_ROOT,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: script,
    logLevel: 'silent',
  });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const get = (port: number, path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });

describe('process guards', () => {
  it('logs an unhandled rejection and keeps serving; logs an uncaught exception and exits 1', async () => {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const port = await new Promise<number>((r) => child.stdout.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
    try {
      expect(await get(port, '/reject')).toBe('up');
      for (let i = 0; i < 100 && !stderr.includes('unhandled rejection'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(stderr).toContain('unhandled rejection (the server keeps running): E_STORE_WRITE: nobody awaited this');
      // Still up, and a second one is survived too.
      expect(await get(port, '/reject')).toBe('up');
      expect(await get(port, '/')).toBe('up');
      expect(child.exitCode).toBeNull();
      await get(port, '/throw');
      expect(await exited).toBe(1);
      expect(stderr).toContain('uncaught exception, stopping the server: E_INTERNAL: thrown from a timer');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
