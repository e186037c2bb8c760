import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from 'cineseg';
import { registerProbe } from '../../../engine/src/cli/probe-command.js';
import { registerDecode } from '../../../engine/src/cli/decode-command.js';
import { REPO, ffprobeFramePts, makeTmp, testClip } from '../decode/media-fixtures.js';

const tmp = makeTmp('cineseg-cli-');
const T = (name: string): string => join(tmp.dir, name);
beforeAll(() => {
  testClip(T('clip.mp4'), { w: 80, h: 60, fps: 25, seconds: 1 });
  writeFileSync(T('text.mp4'), 'hello\n'.repeat(100));
});
afterAll(() => tmp.cleanup());

async function run(args: string[]): Promise<string> {
  let out = '';
  const program = new Command().exitOverride();
  registerProbe(program, (t) => (out += t));
  registerDecode(program, (t) => (out += t));
  await program.parseAsync(args, { from: 'user' });
  return out;
}

describe('cineseg probe / decode (in process)', () => {
  it('probe --json prints the VideoInfo', async () => {
    const out = await run(['probe', T('clip.mp4'), '--json']);
    expect(JSON.parse(out)).toEqual(await probe(T('clip.mp4')));
  });

  it('probe prints readable lines', async () => {
    const out = await run(['probe', T('clip.mp4')]);
    expect(out).toMatch(/^size\s+80x60$/m);
    expect(out).toMatch(/^frames\s+25$/m);
    expect(out).toMatch(/^fps\s+25$/m);
  });

  it('probe errors carry the code', async () => {
    await expect(run(['probe', T('missing.mp4')])).rejects.toMatchObject({ code: 'E_INPUT_NOT_FOUND' });
    await expect(run(['probe', T('text.mp4')])).rejects.toMatchObject({ code: 'E_DECODE_CORRUPT' });
  });

  it('decode --json lists index and PTS of every frame (= ffprobe)', async () => {
    const out = await run(['decode', T('clip.mp4'), '--json', '--size', '8x8', '--start-frame', '5']);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.pop() as { summary: { frames: number; dropped: number } };
    expect(summary.summary.frames).toBe(20);
    expect(lines.map((l) => [l.index, l.ptsUs, l.width])).toEqual(
      ffprobeFramePts(T('clip.mp4'))
        .slice(5)
        .map((p, i) => [i + 5, p, 8]),
    );
  });
});

describe('cineseg decode on a live URL that never sends', () => {
  it('--connect-timeout ends it with E_LIVE_CONNECT_TIMEOUT', async () => {
    const held: Socket[] = [];
    const server = createServer((s) => held.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const t0 = Date.now();
      await expect(run(['decode', `tcp://127.0.0.1:${port}`, '--connect-timeout', '800'])).rejects.toMatchObject({ code: 'E_LIVE_CONNECT_TIMEOUT' });
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

// The built CLI (main.ts prints `E_CODE: message` and sets the exit code). It needs `npm run build`;
// the in-process tests above cover the commands themselves.
const main = join(REPO, 'engine', 'dist', 'cli', 'main.js');
const built = existsSync(main);
if (!built) console.warn(`skipping built-CLI tests: ${main} missing (run npm run build -w engine)`);
describe.runIf(built)('node engine/dist/cli/main.js', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 30_000 });

  it('probe --json succeeds', () => {
    const r = cli('probe', T('clip.mp4'), '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).frameCount).toBe(25);
  });

  it('decode - reads the clip from stdin', () => {
    const r = spawnSync(process.execPath, [main, 'decode', '-', '--quiet', '--json', '--size', '8x8'], { input: readFileSync(T('clip.mp4')), encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).summary.frames).toBe(25);
  });

  it('bad input: one line E_CODE: message, exit 1, no stack trace', () => {
    for (const [input, code] of [
      [T('missing.mp4'), 'E_INPUT_NOT_FOUND'],
      [T('text.mp4'), 'E_DECODE_CORRUPT'],
    ] as const) {
      const r = cli('probe', input);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.startsWith(`${code}: `)).toBe(true);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
