/**
 * Access control of the real server (127.0.0.1 port 0, real ws clients): an open loopback server
 * checks Host and Origin; a server with a token refuses HTTP, /metrics and WebSocket upgrades
 * without it (401, coded), accepts it as a Bearer header, a query (answered with an HttpOnly
 * SameSite=Strict cookie) or that cookie; a server bound off loopback generates a token and
 * enforces it even when reached through 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { isLoopbackHost } from '../../../engine/src/server/access-control.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { startServer, type CinesegServer, type ServeOptions } from '../../../engine/src/server/http-server.js';
import { testBundleDir } from '../model/test-bundle.js';
import { closeWs, errorCode, rawGet, tryUpgrade } from './http-client.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const TOKEN = 'test-token-0123456789abcdef';
let sessions: ModelSessions;
let tmp: string;
const servers: CinesegServer[] = [];

async function serve(opts: Partial<ServeOptions>): Promise<CinesegServer> {
  const s = await startServer({ port: 0, sessions, sink: new MemorySink(), media: [join(tmp, 'media')], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'player'), ...opts });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-access-'));
  mkdirSync(join(tmp, 'media'));
  mkdirSync(join(tmp, 'player'));
  writeFileSync(join(tmp, 'player', 'index.html'), '<!doctype html><title>PLAYER-INDEX</title>');
  await writeTinyClip(join(tmp, 'media', 'square.mp4'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});

afterAll(async () => {
  for (const s of servers) await s.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const wsUrl = (s: CinesegServer, host = '127.0.0.1') => `ws://${host}:${s.port}/ws`;

describe('isLoopbackHost', () => {
  it('knows loopback names and addresses from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.4', 'example.org', '128.0.0.1', 'localhost.example.org']) expect(isLoopbackHost(h)).toBe(false);
  });
});

describe('open loopback server (no token)', () => {
  let s: CinesegServer;
  beforeAll(async () => {
    s = await serve({ allowOrigins: ['http://viewer.example:9000'] });
  });

  it('needs no token, but refuses a Host header naming another machine (DNS rebinding)', async () => {
    expect(s.token).toBeNull();
    expect(s.openUrl).toBe(s.url);
    const ok = await rawGet('127.0.0.1', s.port, '/api/clips');
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { id: string }[]).map((c) => c.id)).toEqual(['media/square']);
    expect((await rawGet('127.0.0.1', s.port, '/', { host: `localhost:${s.port}` })).body).toContain('PLAYER-INDEX');
    expect((await rawGet('127.0.0.1', s.port, '/metrics')).status).toBe(200);
    const rebound = await rawGet('127.0.0.1', s.port, '/api/clips', { host: `attacker.example:${s.port}` });
    expect(rebound.status).toBe(403);
    expect(errorCode(rebound)).toBe('E_AUTH_HOST');
    // The allow-listed origin's host name is accepted as a Host too (a proxy in front).
    expect((await rawGet('127.0.0.1', s.port, '/api/clips', { host: 'viewer.example:9000' })).status).toBe(200);
  });

  it('checks Origin on WebSocket upgrades and cross-origin requests', async () => {
    const noOrigin = await tryUpgrade(wsUrl(s));
    expect(noOrigin.ok).toBe(true);
    if (noOrigin.ok) await closeWs(noOrigin.ws);
    const same = await tryUpgrade(wsUrl(s), { origin: `http://127.0.0.1:${s.port}` });
    expect(same.ok).toBe(true);
    if (same.ok) await closeWs(same.ws);
    const allowed = await tryUpgrade(wsUrl(s), { origin: 'http://viewer.example:9000' });
    expect(allowed.ok).toBe(true);
    if (allowed.ok) await closeWs(allowed.ws);

    for (const origin of ['http://evil.example', `http://127.0.0.1:${s.port + 1}`, 'null', 'http://viewer.example:9001']) {
      const r = await tryUpgrade(wsUrl(s), { origin });
      expect(r.ok, origin).toBe(false);
      if (!r.ok) {
        expect(r.status).toBe(403);
        expect(JSON.parse(r.body)).toMatchObject({ code: 'E_AUTH_ORIGIN' });
      }
    }
    const rebound = await tryUpgrade(wsUrl(s), { headers: { host: `attacker.example:${s.port}` }, origin: `http://attacker.example:${s.port}` });
    expect(rebound.ok).toBe(false);
    if (!rebound.ok) expect(JSON.parse(rebound.body)).toMatchObject({ code: 'E_AUTH_HOST' });

    const cross = await rawGet('127.0.0.1', s.port, '/api/clips', { origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(errorCode(cross)).toBe('E_AUTH_ORIGIN');
  });

  it('answers state-changing methods with 405 (there are none)', async () => {
    const r = await rawGet('127.0.0.1', s.port, '/api/clips', {}, 'POST');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
  });
});

describe('server with a token (on loopback: enforced there too)', () => {
  let s: CinesegServer;
  beforeAll(async () => {
    s = await serve({ token: TOKEN });
  });

  it('refuses HTTP without the token or with a wrong one (401, coded), /metrics included', async () => {
    expect(s.token).toBe(TOKEN);
    expect(s.tokenGenerated).toBe(false);
    for (const path of ['/', '/api/clips', '/hls/media%2Fsquare/index.m3u8', '/metrics', '/assets/x.js']) {
      const r = await rawGet('127.0.0.1', s.port, path);
      expect(r.status, path).toBe(401);
      expect(errorCode(r), path).toBe('E_AUTH_REQUIRED');
      expect(r.headers['www-authenticate']).toContain('Bearer');
      expect(r.body).not.toContain(TOKEN);
    }
    for (const headers of [{ authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Bearer ${TOKEN}x` }, { cookie: `cineseg_token_${s.port}=nope` }]) {
      const r = await rawGet('127.0.0.1', s.port, '/api/clips', headers);
      expect(r.status).toBe(401);
      expect(errorCode(r)).toBe('E_AUTH_INVALID');
    }
    expect(errorCode(await rawGet('127.0.0.1', s.port, '/api/clips?token=wrong'))).toBe('E_AUTH_INVALID');
    // A cookie for another port's server is not this one's.
    expect(errorCode(await rawGet('127.0.0.1', s.port, '/api/clips', { cookie: `cineseg_token_${s.port + 1}=${TOKEN}` }))).toBe('E_AUTH_REQUIRED');
  });

  it('accepts Authorization: Bearer', async () => {
    const r = await rawGet('127.0.0.1', s.port, '/api/clips', { authorization: `Bearer ${TOKEN}` });
    expect(r.status).toBe(200);
    expect(r.headers['set-cookie']).toBeUndefined();
    const m = await rawGet('127.0.0.1', s.port, '/metrics', { authorization: `Bearer ${TOKEN}` });
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toContain('version=0.0.4');
    // The refusals above were counted by code.
    expect(m.body).toMatch(/^cineseg_errors_total\{code="E_AUTH_REQUIRED"\} [1-9]/m);
    expect(m.body).toMatch(/^cineseg_errors_total\{code="E_AUTH_INVALID"\} [1-9]/m);
  });

  it('answers ?token= with an HttpOnly SameSite=Strict cookie that then authenticates on its own', async () => {
    const first = await rawGet('127.0.0.1', s.port, `/?token=${TOKEN}`);
    expect(first.status).toBe(200);
    expect(first.body).toContain('PLAYER-INDEX');
    expect(first.headers['referrer-policy']).toBe('no-referrer');
    const set = first.headers['set-cookie']?.[0] ?? '';
    const [pair, ...attrs] = set.split(';').map((x) => x.trim());
    expect(pair).toBe(`cineseg_token_${s.port}=${TOKEN}`);
    expect(attrs).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/']));
    const viaCookie = await rawGet('127.0.0.1', s.port, '/api/clips', { cookie: `other=1; ${pair}` });
    expect(viaCookie.status).toBe(200);
    expect(viaCookie.headers['set-cookie']).toBeUndefined();
    const hls = await rawGet('127.0.0.1', s.port, '/hls/media%2Fsquare/index.m3u8', { cookie: pair! });
    expect(hls.status).toBe(200);
    expect(hls.body).toContain('#EXTM3U');
  });

  it('refuses WebSocket upgrades without the token (401) and accepts cookie, bearer and query', async () => {
    const none = await tryUpgrade(wsUrl(s));
    expect(none).toMatchObject({ ok: false, status: 401 });
    if (!none.ok) expect(JSON.parse(none.body)).toMatchObject({ code: 'E_AUTH_REQUIRED' });
    const wrong = await tryUpgrade(wsUrl(s), { headers: { authorization: 'Bearer not-the-token-at-all' } });
    expect(wrong).toMatchObject({ ok: false, status: 401 });
    if (!wrong.ok) expect(JSON.parse(wrong.body)).toMatchObject({ code: 'E_AUTH_INVALID' });

    const byCookie = await TestClient.connect(wsUrl(s), { headers: { cookie: `cineseg_token_${s.port}=${TOKEN}` }, origin: `http://127.0.0.1:${s.port}` });
    expect(await byCookie.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    await byCookie.close();
    const byBearer = await TestClient.connect(wsUrl(s), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await byBearer.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    await byBearer.close();
    const byQuery = await TestClient.connect(`${wsUrl(s)}?token=${TOKEN}`);
    expect(await byQuery.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    await byQuery.close();
  });

  it('refuses a foreign Origin even with a valid token (403)', async () => {
    const r = await tryUpgrade(wsUrl(s), { headers: { cookie: `cineseg_token_${s.port}=${TOKEN}` }, origin: 'http://evil.example' });
    expect(r).toMatchObject({ ok: false, status: 403 });
    if (!r.ok) expect(JSON.parse(r.body)).toMatchObject({ code: 'E_AUTH_ORIGIN' });
  });
});

describe('server bound off loopback', () => {
  it('0.0.0.0 without a token: one is generated and enforced, also through 127.0.0.1', async () => {
    const s = await serve({ host: '0.0.0.0' });
    expect(s.tokenGenerated).toBe(true);
    expect(s.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(s.openUrl).toBe(`${s.url}?token=${s.token}`);
    expect(errorCode(await rawGet('127.0.0.1', s.port, '/api/clips'))).toBe('E_AUTH_REQUIRED');
    expect((await rawGet('127.0.0.1', s.port, '/api/clips', { authorization: `Bearer ${s.token!}` })).status).toBe(200);
    expect((await tryUpgrade(wsUrl(s))).ok).toBe(false);
    // Two servers never share a generated token.
    const t = await serve({ host: '0.0.0.0' });
    expect(t.token).not.toBe(s.token);
  });

  const lan = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && !a.internal && a.family === 'IPv4')?.address;
  it.runIf(lan !== undefined)(`this machine's own address (${lan ?? 'none'}): token required, cookie flow works`, async () => {
    const s = await serve({ host: lan! });
    expect(s.tokenGenerated).toBe(true);
    const none = await rawGet(lan!, s.port, '/api/clips');
    expect(none.status).toBe(401);
    const first = await rawGet(lan!, s.port, `/?token=${s.token!}`);
    const pair = (first.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
    expect(pair).toBe(`cineseg_token_${s.port}=${s.token!}`);
    expect((await rawGet(lan!, s.port, '/api/clips', { cookie: pair })).status).toBe(200);
    const c = await TestClient.connect(wsUrl(s, lan), { headers: { cookie: pair }, origin: `http://${lan!}:${s.port}` });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'ack' });
    await c.close();
    expect((await tryUpgrade(wsUrl(s, lan))).ok).toBe(false);
  });

  it('refuses a weak token and a malformed --allow-origin before loading anything', async () => {
    await expect(startServer({ port: 0, sessions, token: 'short' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(startServer({ port: 0, sessions, token: 'has spaces in it 0123456789' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(startServer({ port: 0, sessions, allowOrigins: ['not an origin'] })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(startServer({ port: 0, sessions, allowOrigins: ['https://x.example/path'] })).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});
