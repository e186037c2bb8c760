/**
 * Media, cache and player folders are jails (real server on 127.0.0.1:0, raw request targets,
 * real symlinks): dot segments raw or percent-encoded, backslashes, NULs and absolute clip ids are
 * refused; a symlink pointing out of a media folder is not a clip, and one swapped in after the
 * scan is refused by realpath; a symlink out of the player folder is not served. A secret file
 * outside every root never appears in any answer.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { MemorySink } from '../../../engine/src/server/annotation-sink.js';
import { ClipCatalog } from '../../../engine/src/server/clip-catalog.js';
import { startServer, type CinesegServer } from '../../../engine/src/server/http-server.js';
import { requestPath, resolveInside } from '../../../engine/src/server/path-jail.js';
import { testBundleDir } from '../model/test-bundle.js';
import { errorCode, rawGet } from './http-client.js';
import { writeTinyClip } from './tiny-clip.js';
import { TestClient } from './ws-client.js';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-JAIL';
let tmp: string;
let media: string;
let outside: string;
let sessions: ModelSessions;
let server: CinesegServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-jail-'));
  media = join(tmp, 'media');
  outside = join(tmp, 'outside');
  mkdirSync(join(media, 'sub'), { recursive: true });
  mkdirSync(outside);
  mkdirSync(join(tmp, 'player', 'assets'), { recursive: true });
  await writeTinyClip(join(media, 'real.mp4'));
  copyFileSync(join(media, 'real.mp4'), join(media, 'swap.mp4'));
  copyFileSync(join(media, 'real.mp4'), join(outside, 'stolen.mp4'));
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  // Out of the jail: a file link, a folder link, a link to an absolute system path.
  symlinkSync(join(outside, 'stolen.mp4'), join(media, 'escape.mp4'));
  symlinkSync(outside, join(media, 'escapedir'));
  symlinkSync('/etc/hostname', join(media, 'etc.mp4'));
  // Inside the jail: followed.
  symlinkSync(join(media, 'real.mp4'), join(media, 'sub', 'alias.mp4'));
  writeFileSync(join(tmp, 'player', 'index.html'), '<!doctype html><title>PLAYER-INDEX</title>');
  writeFileSync(join(tmp, 'player', 'assets', 'app.js'), 'console.log("app")');
  symlinkSync(join(outside, 'secret.txt'), join(tmp, 'player', 'assets', 'leak.js'));
  symlinkSync(outside, join(tmp, 'player', 'outdir'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  server = await startServer({ port: 0, sessions, sink: new MemorySink(), media: [media], cacheDir: join(tmp, 'hls'), playerDir: join(tmp, 'player') });
});

afterAll(async () => {
  await server?.destroy();
  await sessions?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const get = (path: string) => rawGet('127.0.0.1', server.port, path);

describe('request paths', () => {
  it('requestPath refuses dot segments in every spelling, backslashes and NULs', () => {
    expect(requestPath('/hls/media%2Freal/index.m3u8?x=1')).toBe('/hls/media/real/index.m3u8');
    for (const bad of [
      '/hls/../../etc/passwd',
      '/hls/%2e%2e/%2E%2E/etc/passwd',
      '/hls/..%2f..%2fetc%2fpasswd/index.m3u8',
      '/.%2e/x',
      '/a/./b',
      '/..%5c..%5cetc%5cpasswd',
      '/x%00.m3u8',
      '/%zz',
      'relative',
    ]) {
      expect(() => requestPath(bad), bad).toThrow(expect.objectContaining({ code: 'E_PATH_FORBIDDEN' }));
    }
  });

  it('resolveInside refuses absolute and dot-dot paths and symlinks out, follows symlinks in', async () => {
    await expect(resolveInside(media, '/etc/passwd')).rejects.toMatchObject({ code: 'E_PATH_FORBIDDEN' });
    await expect(resolveInside(media, 'sub/../../outside/secret.txt')).rejects.toMatchObject({ code: 'E_PATH_FORBIDDEN' });
    await expect(resolveInside(media, 'escape.mp4')).rejects.toMatchObject({ code: 'E_PATH_FORBIDDEN' });
    await expect(resolveInside(media, 'escapedir/secret.txt')).rejects.toMatchObject({ code: 'E_PATH_FORBIDDEN' });
    expect(await resolveInside(media, 'sub/alias.mp4')).toBe(join(media, 'real.mp4'));
    expect(await resolveInside(media, 'nope.mp4')).toBeNull();
  });
});

describe('HTTP traversal attempts', () => {
  it('refuses raw and encoded traversal with 403 E_PATH_FORBIDDEN, and never serves what lies outside', async () => {
    const attempts = [
      '/hls/../../etc/passwd',
      '/hls/../../../../../../etc/passwd',
      '/hls/%2e%2e/%2e%2e/etc/passwd',
      '/hls/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd/index.m3u8',
      '/hls/media%2F..%2F..%2Foutside%2Fstolen/index.m3u8',
      '/hls/media%2Freal/..%2F..%2F..%2Foutside%2Fsecret.txt',
      '/../outside/secret.txt',
      '/assets/..%2f..%2foutside%2fsecret.txt',
      '/..%5c..%5coutside%5csecret.txt',
      '/assets/app.js%00.m3u8',
    ];
    for (const path of attempts) {
      const r = await get(path);
      expect(r.status, path).toBe(403);
      expect(errorCode(r), path).toBe('E_PATH_FORBIDDEN');
      expect(r.body).not.toContain(SECRET);
      expect(r.body).not.toContain('root:');
      expect(r.body).not.toContain(tmp);
    }
  });

  it('treats absolute clip ids and links out of the media folder as unknown clips', async () => {
    for (const path of [
      '/hls/%2Fetc%2Fpasswd/index.m3u8',
      '/hls//etc/passwd/index.m3u8',
      `/hls/${encodeURIComponent(join(outside, 'stolen'))}/index.m3u8`,
      '/hls/media%2Fescape/index.m3u8',
      '/hls/media%2Fetc/index.m3u8',
      '/hls/media%2Fescapedir%2Fstolen/index.m3u8',
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(errorCode(r), path).toBe('E_CLIP_UNKNOWN');
      // The reply may echo the id the client sent, nothing the server resolved.
      if (!path.includes(encodeURIComponent(tmp))) expect(r.body).not.toContain(tmp);
    }
    // Only names that stay inside are files of a clip's package.
    expect(errorCode(await get('/hls/media%2Freal/..index.m3u8x'))).toBe('E_INPUT_NOT_FOUND');
  });

  it('lists and serves only clips inside the folder (symlinks inside are followed)', async () => {
    const ids = (JSON.parse((await get('/api/clips')).body) as { id: string }[]).map((c) => c.id).sort();
    expect(ids).toEqual(['media/real', 'media/sub/alias', 'media/swap']);
    const playlist = await get('/hls/media%2Fsub%2Falias/index.m3u8');
    expect(playlist.status).toBe(200);
    expect(playlist.body).toContain('#EXTM3U');
    const seg = /^(\S+\.ts)$/m.exec(playlist.body)![1]!;
    expect((await get(`/hls/media%2Fsub%2Falias/${seg}`)).status).toBe(200);
  });

  it('does not serve a player file that links out of the player folder', async () => {
    expect((await get('/assets/app.js')).body).toContain('console.log');
    for (const path of ['/assets/leak.js', '/outdir/secret.txt']) {
      const r = await get(path);
      expect(r.status, path).toBe(403);
      expect(errorCode(r)).toBe('E_PATH_FORBIDDEN');
      expect(r.body).not.toContain(SECRET);
    }
    // A missing file is the single-page app's route: index.html, never a file from elsewhere.
    const spa = await get('/etc/passwd');
    expect(spa.body).toContain('PLAYER-INDEX');
  });
});

describe('clip ids over the WebSocket', () => {
  it('refuses traversal ids and a clip swapped for an outward symlink after the scan', async () => {
    const c = await TestClient.connect(server.url.replace('http', 'ws') + 'ws');
    for (const clip of ['../../etc/passwd', '/etc/passwd', 'media/../outside/stolen', 'media/escape', 'media/escapedir/stolen', join(outside, 'stolen.mp4')]) {
      const r = await c.request({ type: 'startSession', clip });
      expect(r, clip).toMatchObject({ type: 'error', code: 'E_CLIP_UNKNOWN' });
      if (r.type === 'error' && !clip.includes(tmp)) expect(r.message).not.toContain(tmp);
    }
    // Scanned as a regular file, then replaced by a link to a file outside: realpath catches it.
    expect((await new ClipCatalog([media]).get('media/swap')).path).toBe(join(media, 'swap.mp4'));
    await server.catalog.scan();
    unlinkSync(join(media, 'swap.mp4'));
    symlinkSync(join(outside, 'stolen.mp4'), join(media, 'swap.mp4'));
    const r = await c.request({ type: 'startSession', clip: 'media/swap' });
    expect(r).toMatchObject({ type: 'error', code: 'E_PATH_FORBIDDEN' });
    const h = await get('/hls/media%2Fswap/index.m3u8');
    expect(h.status).toBe(403);
    expect(errorCode(h)).toBe('E_PATH_FORBIDDEN');
    // The good clip still opens on the same connection.
    expect(await c.request({ type: 'startSession', clip: 'media/real' })).toMatchObject({ type: 'sessionStarted', clip: 'media/real' });
    await c.close();
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
  });
});
