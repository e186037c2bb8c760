/**
 * `cineseg serve`: one HTTP server for the built player, the clip list, HLS of the clips, and the
 * WebSocket protocol. {@link startServer} wires the parts and returns something with `destroy()`
 * that releases all of them (sockets, sessions, ffmpeg children, ONNX sessions).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { defaultBundleDir, loadBundle } from '../model/bundle.js';
import { ModelSessions, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import { SessionStore } from '../store/session-store.js';
import { MemorySink, type AnnotationSink } from './annotation-sink.js';
import { StoreSink } from './store-sink.js';
import { ClipCatalog } from './clip-catalog.js';
import { HlsCache } from './hls.js';
import { LivePipeline } from './live-session.js';
import { SessionManager } from './session-manager.js';
import { WsServer } from './ws-server.js';

/** engine/src/server or engine/dist/server → repository root. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ServeOptions {
  /** Media folders (default: samples/generated and samples/real of the repository). */
  media?: string[];
  /** Live source: a URL, `-`, or `loop:<file>`. */
  live?: string;
  host?: string;
  /** 0 picks a free port (default 8080). */
  port?: number;
  /** Model bundle folder (default: the shipped tiny bundle). */
  model?: string;
  ep?: ExecutionProviderRequest;
  threads?: number;
  /** Built player (default: player/dist of the repository). */
  playerDir?: string;
  /** HLS cache (default: .cache/hls of the repository). */
  cacheDir?: string;
  /** Where prompts and masks are stored before they are acknowledged (default: `store`, else in memory). */
  sink?: AnnotationSink;
  /** SQLite store file (see store/session-store.ts) used when no `sink` is given. */
  store?: string;
  /** Reuse model sessions (tests); they are not released by destroy() then. */
  sessions?: ModelSessions;
  log?: (line: string) => void;
}

export interface CinesegServer {
  url: string;
  port: number;
  host: string;
  hls: HlsCache;
  catalog: ClipCatalog;
  manager: SessionManager;
  ws: WsServer;
  live: LivePipeline | null;
  sink: AnnotationSink;
  destroy(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.map': 'application/json',
};

/** Starts the server; resolves once it listens. */
export async function startServer(opts: ServeOptions = {}): Promise<CinesegServer> {
  const log = opts.log ?? (() => undefined);
  const media = opts.media ?? [join(REPO_ROOT, 'samples', 'generated'), join(REPO_ROOT, 'samples', 'real')];
  const playerDir = resolve(opts.playerDir ?? join(REPO_ROOT, 'player', 'dist'));
  const catalog = new ClipCatalog(media);
  const hls = new HlsCache(resolve(opts.cacheDir ?? join(REPO_ROOT, '.cache', 'hls')));
  const models =
    opts.sessions ??
    (await ModelSessions.create(loadBundle(opts.model ?? defaultBundleDir()), { ep: opts.ep ?? 'auto', log, ...(opts.threads ? { threads: opts.threads } : {}) }));
  const sink = opts.sink ?? (opts.store ? new StoreSink(SessionStore.open(opts.store), true) : new MemorySink());
  const live = opts.live ? new LivePipeline({ input: opts.live, sessions: models, sink, log }) : null;
  const manager = new SessionManager(catalog, models, sink, live);

  const http = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = toCinesegError(e);
      const status = err.code === ErrorCode.E_CLIP_UNKNOWN || err.code === ErrorCode.E_INPUT_NOT_FOUND ? 404 : 500;
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: err.code, message: err.message }));
    });
  });
  const ws = new WsServer(http, manager, log);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    if (path === '/api/clips') return json(res, await catalog.list());
    if (path === '/api/info') return json(res, { live: live !== null, model: models.bundle.name, ep: models.ep.ep });
    if (path.startsWith('/hls/')) {
      // /hls/<clip id, which may hold slashes>/<file>
      const rest = path.slice(5);
      const cut = rest.lastIndexOf('/');
      const file = rest.slice(cut + 1);
      if (cut <= 0 || !/^[\w.-]+\.(m3u8|ts)$/.test(file)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `no HLS file ${path}`);
      const clip = await catalog.get(rest.slice(0, cut));
      const pkg = await hls.ensure(clip.path);
      return sendFile(res, join(pkg.dir, file), req.method === 'HEAD', 'no-cache');
    }
    // The player: files under dist/, index.html for anything else (client-side routes).
    const rel = normalize(path).replace(/^([/\\])+/, '');
    let file = join(playerDir, rel);
    if (!file.startsWith(playerDir + sep) && file !== playerDir) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, 'outside the player');
    if (!rel || !(await isFile(file))) file = join(playerDir, 'index.html');
    if (!(await isFile(file))) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('cineseg player is not built: run `npm run build -w player`\n');
      return;
    }
    return sendFile(res, file, req.method === 'HEAD', rel.startsWith('assets/') ? 'max-age=31536000, immutable' : 'no-cache');
  }

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((res, rej) => {
    http.once('error', (e) => rej(new CinesegError(ErrorCode.E_USAGE, `cannot listen on ${host}:${opts.port ?? 8080}: ${e.message}`, { cause: e })));
    http.listen(opts.port ?? 8080, host, () => res());
  });
  const port = (http.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  let destroyed: Promise<void> | null = null;
  return {
    url,
    port,
    host,
    hls,
    catalog,
    manager,
    ws,
    live,
    sink,
    destroy() {
      destroyed ??= (async () => {
        await ws.destroy();
        await manager.destroy();
        await live?.destroy();
        await new Promise<void>((r) => {
          http.close(() => r());
          http.closeAllConnections();
        });
        hls.destroy();
        if (!opts.sessions) await models.destroy();
        if (!opts.sink) await sink.destroy();
      })();
      return destroyed;
    },
  };
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.end(JSON.stringify(body));
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function sendFile(res: ServerResponse, file: string, head: boolean, cache: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `not found: ${file.split(sep).slice(-2).join('/')}`);
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': cache });
  if (head) {
    res.end();
    return;
  }
  await new Promise<void>((resolveP, reject) => {
    const s = createReadStream(file);
    s.on('error', reject);
    res.on('close', () => {
      s.destroy();
      resolveP();
    });
    s.pipe(res);
  });
}
