/**
 * No patient identifiers in logs or error messages: the built CLI (`cineseg serve`, a child
 * process whose whole stdout and stderr are captured) plays a DICOM cine whose header carries
 * recognisable fake patient data, as a live source from a folder named after a (fake) user; a
 * client tracks it, sends bad requests, and asks for a damaged clip's HLS (an error the server
 * logs). Then a damaged DICOM with the same header is served, and `probe` / `track` read both
 * files. Neither the patient values nor the user's folder name may appear in any log line, printed
 * line or message a client received; the errors that were logged name clips and labels instead.
 * The server's log is JSON lines with levels (server/logger.ts). The token comes from $CINESEG_TOKEN here, so that path of `serve` is exercised too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLiveFrame } from '../../../engine/src/protocol.js';
import { clipFrames, FAKE_PHI, writeUsCine } from '../../fixtures/dicom/make-us-cine.js';
import { cineseg, CLI, ensureBuilt } from '../cli/track-helpers.js';
import { testBundleDir } from '../model/test-bundle.js';
import { rawGet } from './http-client.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const TOKEN = 'phi-test-token-0123456789';
const USER = 'SECRETUSERJDOE';
// PatientSex is one letter, too short to search for; every other fake identifier is distinctive.
const FORBIDDEN = [...Object.values(FAKE_PHI).filter((v) => v.length > 3), 'SECRETNAME', USER];

let tmp: string;
let home: string;
let good: string;
let damaged: string;

interface Served {
  child: ChildProcess;
  port: number;
  out: () => string;
  stop: () => Promise<number | null>;
}

/** Starts `cineseg serve` and waits for the line that says where it listens. */
async function serve(live: string): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--no-store', '--threads', '1', '--model', testBundleDir(), '--media', join(home, 'media'), '--live', `loop:${live}`], {
    cwd: tmp,
    env: { ...process.env, CINESEG_TOKEN: TOKEN, CINESEG_DEBUG: '' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /cineseg serving on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${out}`)));
  });
  return {
    child,
    port,
    out: () => out,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

function expectClean(text: string, what: string): void {
  for (const v of FORBIDDEN) expect(text, `${what} must not contain ${v}`).not.toContain(v);
}

beforeAll(async () => {
  await ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-phi-'));
  // Where a user keeps files: the folder name stands for a user name (and a DICOM named after a patient).
  home = join(tmp, USER);
  mkdirSync(join(home, 'media'), { recursive: true });
  await writeTinyClip(join(tmp, 'src.mp4'), { frames: 16 });
  writeFileSync(join(home, 'media', 'broken.mp4'), Buffer.alloc(4096, 7));
  const src = await clipFrames(join(tmp, 'src.mp4'), 16);
  good = (await writeUsCine(join(home, 'cine.dcm'), src, 'native', { frameTimeMs: 1000 / 30 })).path;
  const bytes = readFileSync(good);
  damaged = join(home, 'damaged.dcm');
  writeFileSync(damaged, bytes.subarray(0, bytes.length - 3000));
  // The fixture really carries the values searched for (else the test proves nothing).
  expect(bytes.toString('latin1')).toContain(FAKE_PHI.PatientName);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('no patient identifiers or user paths reach logs or clients', () => {
  it('serve: a DICOM cine as live source, tracked by a client, with errors along the way', async () => {
    const s = await serve(good);
    const received: string[] = [];
    try {
      const printed = s.out();
      // A token from the environment is not printed (whoever set it knows it).
      expect(printed).not.toContain(TOKEN);
      expect(printed).toContain('token required');
      expect((await rawGet('127.0.0.1', s.port, '/api/clips')).status).toBe(401);

      const c = await TestClient.connect(`ws://127.0.0.1:${s.port}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const st = await c.request({ type: 'startSession', live: true });
      expect(st).toMatchObject({ type: 'sessionStarted', kind: 'live', width: 64, height: 48 });
      if (st.type !== 'sessionStarted') return;
      for (let i = 0; i < 400 && c.frames.length < 1; i++) await new Promise((r) => setTimeout(r, 25));
      const f = decodeLiveFrame(c.frames.at(-1)!);
      expect(await c.request({ type: 'addPoints', sessionId: st.sessionId, frame: f.frame, objectId: 1, points: [{ x: 18, y: 22 }] })).toMatchObject({ type: 'ack' });
      for (let i = 0; i < 400 && c.masks.length < 5; i++) await new Promise((r) => setTimeout(r, 25));
      expect(c.masks.length).toBeGreaterThanOrEqual(5);
      // Errors: an unknown clip, a bad message, a damaged clip's HLS (a 500 the server logs).
      expect(await c.request({ type: 'startSession', clip: 'media/nope' })).toMatchObject({ type: 'error', code: 'E_CLIP_UNKNOWN' });
      c.sendRaw('{"v":1');
      await c.waitFor((m) => m.type === 'error' && m.code === 'E_PROTOCOL_JSON', true);
      const hls = await rawGet('127.0.0.1', s.port, '/hls/media%2Fbroken/index.m3u8', { authorization: `Bearer ${TOKEN}` });
      expect(hls.status).toBe(500);
      received.push(hls.body);
      const metrics = await rawGet('127.0.0.1', s.port, '/metrics', { authorization: `Bearer ${TOKEN}` });
      expect(metrics.body).toMatch(/^cineseg_tracked_frames_total\{mode="live"\} [1-9]/m);
      received.push(metrics.body);
      received.push(...c.messages.map((m) => JSON.stringify(m)));
      await c.close();
    } finally {
      expect(await s.stop()).toBe(0);
    }
    const logs = s.out();
    // The damaged clip's failure was logged, under its clip id, not its path.
    expect(logs).toMatch(/answered 500: E_[A-Z_]+: media\/broken\.mp4/);
    // The server logs JSON lines (server/logger.ts): the failure is an error, its code a field.
    const entries = logs
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string; code?: string });
    expect(entries.find((e) => /answered 500/.test(e.msg))).toMatchObject({ level: 'error', code: expect.stringMatching(/^E_[A-Z_]+$/) });
    expect(logs).not.toContain(tmp);
    expectClean(logs, 'serve output');
    for (const r of received) expectClean(r, 'a reply');
    expect(received.join('\n')).not.toContain(tmp);
  });

  it('serve: a damaged DICOM as live source fails with a code, naming neither patient nor path', async () => {
    const s = await serve(damaged);
    let reply: string;
    try {
      const c = await TestClient.connect(`ws://127.0.0.1:${s.port}/ws?token=${TOKEN}`);
      const r = await c.request({ type: 'startSession', live: true });
      expect(r).toMatchObject({ type: 'error', code: 'E_DECODE_CORRUPT' });
      reply = JSON.stringify(r);
      expect(reply).toContain('<live source>');
      await c.close();
    } finally {
      expect(await s.stop()).toBe(0);
    }
    expectClean(s.out(), 'serve output');
    expectClean(reply, 'the error reply');
    expect(reply).not.toContain(tmp);
  });

  it('probe and track: output and one-line errors carry no patient data', async () => {
    const neutral = join(tmp, 'neutral');
    mkdirSync(neutral);
    writeFileSync(join(neutral, 'a.dcm'), readFileSync(good));
    writeFileSync(join(neutral, 'b.dcm'), readFileSync(damaged));
    const probeOk = await cineseg(['probe', join(neutral, 'a.dcm')]);
    expect(probeOk.code).toBe(0);
    expect(probeOk.stdout).toContain('64');
    const probeBad = await cineseg(['probe', join(neutral, 'b.dcm')]);
    expect(probeBad.code).not.toBe(0);
    expect(probeBad.stderr).toMatch(/^E_DECODE_CORRUPT: /);
    const track = await cineseg(['track', join(neutral, 'a.dcm'), '--model', testBundleDir(), '--point', '0:18,22', '--out', join(neutral, 'm.json'), '--threads', '1']);
    expect(track.code).toBe(0);
    for (const r of [probeOk, probeBad, track]) expectClean(r.stdout + r.stderr, 'CLI output');
    expectClean(readFileSync(join(neutral, 'm.json'), 'utf8'), 'the masks file');
  });
});
