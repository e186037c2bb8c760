/**
 * `cineseg serve`: one HTTP server for the built player, the clip list, HLS of the clips,
 * Prometheus metrics, and the WebSocket protocol. {@link startServer} wires the parts and returns
 * something with `destroy()` that releases all of them (sockets, sessions, ffmpeg children, ONNX
 * sessions).
 *
 * Every request passes access-control.ts first (token off loopback, Origin, Host); every file
 * served is resolved inside its root by path-jail.ts; logs and error replies go through
 * path-redactor.ts, and the request target is never logged (it may carry `?token=`).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, homedir, userInfo } from 'node:os';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { CinesegError, ErrorCode, httpStatusOf, toCinesegError } from '../errors.js';
import { loadBundle } from '../model/bundle.js';
import { cacheDir as repoCacheDir, defaultBundleDir, defaultMediaDirs, PLAYER_DIST_DIR, REPO_ROOT } from '../paths.js';
import { ModelSessions, workerModeFromEnv, type ExecutionProviderRequest } from '../model/ort-sessions.js';
import type { AnnotationStore } from '../store/annotation-store.js';
import { isPostgresSpec, openStore, userStorePath } from '../store/open-store.js';
import { SessionStore } from '../store/session-store.js';
import { AccessControl } from './access-control.js';
import { MemorySink, type AnnotationSink } from './annotation-sink.js';
import { resolveLimits, type ServerLimits } from './limits.js';
import { PathRedactor } from './path-redactor.js';
import { createServerLogger, lineLog, type Logger } from './logger.js';
import { METRICS_CONTENT_TYPE, ServerMetrics } from './metrics.js';
import { requestPath, resolveInside } from './path-jail.js';
import { StoreSink } from './store-sink.js';
import { ClipCatalog } from './clip-catalog.js';
import { HlsCache } from './hls-cache.js';
import { LivePipeline } from './live-session.js';
import { LivePictureStore } from './live-picture-store.js';
import { handleLiveRecords, LIVE_RECORDS_PATH } from './live-record-routes.js';
import type { ReconnectOptions } from '../decode/live-source.js';
import { SessionManager } from './session-manager.js';
import { sessionRoutes } from './session-routes.js';
import { FinetuneJobs, type FinetuneJobSettings } from '../adapt/finetune-jobs.js';
import { jobRoutes } from './job-routes.js';
import { labelRoutes } from './label-routes.js';
import { ModelCatalog } from './model-catalog.js';
import { closeOrphans } from './session-restore.js';
import { WsServer } from './ws-server.js';
import type { SamOptions } from '../track/tracking-engine.js';

export interface ServeOptions {
  /** Media folders (default: samples/generated and samples/real of the repository). */
  media?: string[];
  /** Live source: a URL, `-`, or `loop:<file>`. */
  live?: string;
  /** ffmpeg options before the live input (e.g. `-f v4l2 …` for a capture card, `-f rawvideo …` for a raw feed). */
  liveInputOptions?: readonly string[];
  /** Live: store tracked masks at most every this many ms (0: every frame, negative: prompts only); see live-session.ts. */
  liveStoreIntervalMs?: number;
  /** Live: how the source reconnects after its stream stopped (attempts, backoff; see decode/live-source.ts). */
  liveReconnect?: ReconnectOptions;
  /** Live: how long the source, tracker and objects outlive the last viewer, ms (default LIVE_GRACE_MS, 30 s; 0: stop with it). */
  liveGraceMs?: number;
  /** Live: conditioning frames kept per object (default DEFAULT_MAX_COND_FRAMES, 8; see track/stream-tracker.ts). */
  liveMaxCondFrames?: number;
  /**
   * Live: keep each tracked frame's JPEG for review (live-picture-store.ts; GET /api/live-records):
   * a folder, or true for `live-pictures` beside the `store` file. ≈ 2–3 GB per hour at 480p.
   */
  liveRecordPictures?: boolean | string;
  /** Live: bound of the picture folder in bytes, oldest pictures pruned first (default 2 GiB). */
  liveRecordMaxBytes?: number;
  host?: string;
  /** 0 picks a free port (default 8080). */
  port?: number;
  /** Model bundle folder (default: the shipped tiny bundle). */
  model?: string;
  ep?: ExecutionProviderRequest;
  /** No fallback from `ep` (E_EP_UNAVAILABLE); onnxruntime's warnings shown (cli/ep-options.ts). */
  strictEp?: boolean;
  verbose?: boolean;
  /** onnxruntime intra-op threads (default: serverThreads()). */
  threads?: number;
  /** Run the graphs in a worker thread so they never block the event loop (default: $CINESEG_ORT_WORKER, else true). */
  worker?: boolean;
  /** Built player (default: player/dist of the repository). */
  playerDir?: string;
  /** HLS cache (default: .cache/hls of the repository). */
  cacheDir?: string;
  /** Where prompts and masks are stored before they are acknowledged (default: `store`, else in memory). */
  sink?: AnnotationSink;
  /**
   * The store used when no `sink` is given: a SQLite file path or a postgres:// URL
   * (store/open-store.ts; opened here and closed by destroy()), or a store the caller opened
   * (wrapped once; left open by destroy()).
   */
  store?: string | SessionStore | AnnotationStore;
  /** Reuse model sessions (tests); they are not released by destroy() then. */
  sessions?: ModelSessions;
  /**
   * The token every request must carry (cookie, `Authorization: Bearer`, or `?token=`). Off
   * loopback one is generated when none is given; on loopback, none means the server is open.
   */
  token?: string;
  /** Browser origins allowed besides the server's own (WebSocket upgrades, cross-origin requests). */
  allowOrigins?: string[];
  /** Connection, session, message-size and prompt-rate bounds; unset ones take limits.ts's defaults. */
  limits?: Partial<ServerLimits>;
  /** "Improve the model" jobs (POST /api/finetune): training settings (tests: few steps). */
  finetune?: FinetuneJobSettings;
  /** Where fine-tuned bundles go (default `<store file without .db>.models/` beside the store). */
  modelsDir?: string;
  /** SAM 2 predictor flags for every tracker (defaults: EngineOptions); a recorded startSession may override them. */
  sam?: SamOptions;
  /** Each log line, a JSON object (logger.ts: level, redacted message); without it the server logs nothing. */
  log?: (line: string) => void;
}

export interface CinesegServer {
  /** The server's base URL (no token). */
  url: string;
  /** What a person opens: `url`, with `?token=…` when the server has a token. */
  openUrl: string;
  port: number;
  host: string;
  /** The token in force (null: an open loopback server). */
  token: string | null;
  /** Whether `token` was generated (nobody knows it until it is printed). */
  tokenGenerated: boolean;
  limits: ServerLimits;
  metrics: ServerMetrics;
  /** The structured log (logger.ts), for the process around the server (e.g. its process guards). */
  logger: Logger;
  hls: HlsCache;
  catalog: ClipCatalog;
  manager: SessionManager;
  ws: WsServer;
  live: LivePipeline | null;
  sink: AnnotationSink;
  /** The models sessions may run on (GET /api/models). */
  models: ModelCatalog;
  /** "Improve the model" jobs; null without a store. */
  jobs: FinetuneJobs | null;
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

/** Sent with every response: no sniffing, no framing, and the token-carrying URL never leaves as a Referer. */
const SECURITY_HEADERS: [string, string][] = [
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
];

/**
 * Whether the server's onnxruntime sessions use ORT's CPU memory arena: off unless
 * CINESEG_ORT_ARENA=1. The arena keeps the largest buffers it ever held; over a working day of
 * recorded sessions of every length that was what grew (RSS after a 20-minute clip over a 1-minute
 * one: 1.181 with it, 1.002 without), while live latency showed no cost of going without (p50 / p99
 * alternated in one run: 55 / 185 and 55 / 116 ms with, 46 / 87 and 58 / 176 ms without, under load;
 * docs/benchmarks.md). `track` and `batch` keep it (one clip, one process).
 */
export function serverArena(): boolean {
  return process.env.CINESEG_ORT_ARENA === '1';
}

/**
 * onnxruntime's intra-op threads for the server: on a machine with four cores or fewer, one core
 * is left to what runs beside the model on every live frame — ffmpeg decoding the source and
 * encoding the picture, and often the viewer's browser itself. On two cores, two model threads
 * did not make tracking faster (median 14 ms either way) and the live latency's p99 was
 * 2–3 ms worse. Larger machines keep onnxruntime's default (one thread per physical core).
 * 0 means onnxruntime's default.
 */
export function serverThreads(cores = availableParallelism()): number {
  return cores <= 4 ? Math.max(1, cores - 1) : 0;
}

/** Starts the server; resolves once it listens. */
export async function startServer(opts: ServeOptions = {}): Promise<CinesegServer> {
  const host = opts.host ?? '127.0.0.1';
  // Bad limits or tokens fail before a model is loaded.
  const limits = resolveLimits(opts.limits);
  const picturesDir = livePicturesDir(opts);
  const access = new AccessControl({ host, ...(opts.token === undefined ? {} : { token: opts.token }), allowOrigins: opts.allowOrigins ?? [] });
  const media = opts.media ?? defaultMediaDirs();
  const playerDir = resolve(opts.playerDir ?? PLAYER_DIST_DIR);
  const cacheDir = resolve(opts.cacheDir ?? repoCacheDir('hls'));
  const redactor = new PathRedactor([
    ...media.map((d) => [resolve(d), basename(resolve(d))] as const),
    [cacheDir, '<hls-cache>'],
    [playerDir, '<player>'],
    ...liveRedactions(opts.live),
    [REPO_ROOT, '<repo>'],
    [homedir(), '~'],
  ]);
  const redact = (text: string): string => redactor.redact(text);
  const logger = createServerLogger({ redact, ...(opts.log ? { write: opts.log } : {}) });
  const log = lineLog(logger);
  const metrics = new ServerMetrics();
  const catalog = new ClipCatalog(media);
  const hls = new HlsCache(cacheDir);
  // The same session options for the default model and every model a client switches to.
  const sessionOptions = {
    ep: opts.ep ?? 'auto',
    ...(opts.strictEp ? { strictEp: true } : {}),
    ...(opts.verbose ? { verbose: true } : {}),
    log,
    threads: opts.threads ?? serverThreads(),
    worker: opts.worker ?? workerModeFromEnv() ?? true,
    arena: serverArena(),
  };
  const models = opts.sessions ?? (await ModelSessions.create(loadBundle(opts.model ?? defaultBundleDir()), sessionOptions));
  const sink = opts.sink ?? (typeof opts.store === 'string' ? new StoreSink(await openStore(opts.store), true) : opts.store ? new StoreSink(opts.store) : new MemorySink());
  const pictures = picturesDir === null ? null : new LivePictureStore({ dir: picturesDir, ...(opts.liveRecordMaxBytes === undefined ? {} : { maxBytes: opts.liveRecordMaxBytes }), log });
  const live = opts.live
    ? new LivePipeline({
        input: opts.live,
        ...(pictures ? { pictures } : {}),
        ...(opts.liveInputOptions ? { inputOptions: opts.liveInputOptions } : {}),
        sessions: models.withPriority('live'),
        sink,
        log,
        metrics,
        ...(opts.liveStoreIntervalMs === undefined ? {} : { storeIntervalMs: opts.liveStoreIntervalMs }),
        ...(opts.liveReconnect ? { reconnect: opts.liveReconnect } : {}),
        ...(opts.sam ? { sam: opts.sam } : {}),
        ...(opts.liveGraceMs === undefined ? {} : { graceMs: opts.liveGraceMs }),
        ...(opts.liveMaxCondFrames === undefined ? {} : { maxCondFrames: opts.liveMaxCondFrames }),
      })
    : null;
  // Sessions a killed server left open are closed (reopenable) before anyone can ask for them.
  if (sink instanceof StoreSink) {
    const orphans = await closeOrphans(sink.store);
    if (orphans.length) log(`store: ${orphans.length} session(s) left open by an earlier server marked closed (reopenable)`);
  }
  const modelCatalog = new ModelCatalog({
    defaultSessions: models,
    modelsDir: opts.modelsDir ?? (sink instanceof StoreSink ? storeModelsDir(sink.store) : null),
    create: (bundle) => ModelSessions.create(bundle, sessionOptions),
    redact,
  });
  const manager = new SessionManager(catalog, models, sink, live, {
    modelFor: (id) => modelCatalog.sessionsFor(id),
    user: serverUser(),
    limits,
    hooks: { frameTracked: () => metrics.frameTracked('recorded'), clipMedia: hls, ...(opts.sam ? { sam: opts.sam } : {}) },
  });

  const http = createServer((req, res) => {
    for (const [k, v] of SECURITY_HEADERS) res.setHeader(k, v);
    handle(req, res).catch((e: unknown) => {
      const err = toCinesegError(e);
      // One table for every code's status: errors.ts ERROR_INFO (docs/errors.md is generated from it).
      const status = httpStatusOf(err.code);
      metrics.error(err.code);
      if (status >= 500) logger.error({ code: err.code, status, method: req.method }, `http ${req.method ?? '?'} answered ${status}: ${err.toLine()}`);
      sendError(res, status, err.code, redact(err.message));
    });
  });
  const ws = new WsServer(http, manager, { access, limits, metrics, redact, log, sink });
  metrics.bind({ sessions: () => manager.counts(), connections: () => ws.connections });
  const sessions = sessionRoutes({ sink, catalog, manager, log, user: serverUser() });
  const store = sink instanceof StoreSink ? sink.store : null;
  const jobs =
    store && modelCatalog.modelsDir
      ? new FinetuneJobs({ store, modelsDir: modelCatalog.modelsDir, baseDir: models.bundle.dir, ...(opts.finetune ? { settings: opts.finetune } : {}), log, redact })
      : null;
  const apiJobs = jobRoutes({ jobs, models: modelCatalog });
  const labels = labelRoutes({ catalog, store, log });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const verdict = access.check(req);
    if (!verdict.ok) {
      metrics.error(verdict.code);
      if (verdict.status === 401) res.setHeader('www-authenticate', 'Bearer realm="cineseg"');
      sendError(res, verdict.status, verdict.code, verdict.message);
      return;
    }
    if (verdict.setCookie) res.setHeader('set-cookie', verdict.setCookie);
    const path0 = requestPath(req.url ?? '/');
    if (path0 === '/api/sessions' || path0.startsWith('/api/sessions/')) return sessions.handle(req, res, path0);
    if (path0 === '/api/labels') return labels.handle(req, res, new URLSearchParams((req.url ?? '').split('?')[1]?.split('#')[0] ?? ''));
    if (await apiJobs.handle(req, res, path0)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const path = requestPath(req.url ?? '/');
    if (path === '/metrics') {
      const body = req.method === 'HEAD' ? undefined : await metrics.render();
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-cache' });
      res.end(body);
      return;
    }
    if (path === '/api/clips') return json(res, await catalog.list());
    if (path === LIVE_RECORDS_PATH || path.startsWith(`${LIVE_RECORDS_PATH}/`)) return handleLiveRecords(pictures, req, res, path);
    if (path === '/api/info') return json(res, { live: live !== null, model: models.bundle.name, ep: models.ep.ep });
    if (path.startsWith('/media/')) {
      // /media/<clip id>: the clip file's bytes, for `cineseg worker`s that read clips from this
      // server (batch --queue with a media URL and the token) instead of a shared mount. The same
      // access check as every route (the token off loopback); a volume view is no file of its own.
      const clip = await catalog.get(decodeURIComponent(path.slice('/media/'.length)));
      if (clip.volumeFile !== undefined) throw new CinesegError(ErrorCode.E_INPUT_UNSUPPORTED, `clip ${clip.id} is a view of a volume, not one file: workers take video and DICOM cine files`);
      return sendFile(res, clip.path, req.method === 'HEAD', 'no-cache');
    }
    if (path.startsWith('/hls/')) {
      // /hls/<clip id, which may hold slashes>/<file>
      const rest = path.slice(5);
      const cut = rest.lastIndexOf('/');
      const file = rest.slice(cut + 1);
      if (cut <= 0 || !/^[\w-]+(\.[\w-]+)*\.(m3u8|ts)$/.test(file)) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, 'no such HLS file (expected /hls/<clip id>/<name>.m3u8 or .ts)');
      const clip = await catalog.get(rest.slice(0, cut));
      const pkg = await hls.ensure(clip.path);
      const real = await resolveInside(pkg.dir, file);
      if (real === null) throw new CinesegError(ErrorCode.E_INPUT_NOT_FOUND, `clip ${clip.id} has no HLS file ${file}`);
      return sendFile(res, real, req.method === 'HEAD', 'no-cache');
    }
    // The player: files under dist/, index.html for anything else (client-side routes).
    const rel = path.replace(/^\/+/, '');
    let file = rel ? await resolveInside(playerDir, rel) : null;
    if (file !== null && !(await isFile(file))) file = null;
    file ??= await resolveInside(playerDir, 'index.html');
    if (file === null || !(await isFile(file))) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('cineseg player is not built: run `npm run build -w player`\n');
      return;
    }
    return sendFile(res, file, req.method === 'HEAD', rel.startsWith('assets/') ? 'max-age=31536000, immutable' : 'no-cache');
  }

  await new Promise<void>((res, rej) => {
    http.once('error', (e) => rej(new CinesegError(ErrorCode.E_USAGE, `cannot listen on ${host}:${opts.port ?? 8080}: ${e.message}`, { cause: e })));
    http.listen(opts.port ?? 8080, host, () => res());
  });
  const port = (http.address() as AddressInfo).port;
  access.setPort(port);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  let destroyed: Promise<void> | null = null;
  return {
    url,
    openUrl: access.token === null ? url : `${url}?token=${encodeURIComponent(access.token)}`,
    port,
    host,
    token: access.token,
    tokenGenerated: access.tokenGenerated,
    limits,
    metrics,
    logger,
    hls,
    catalog,
    manager,
    ws,
    live,
    sink,
    models: modelCatalog,
    jobs,
    destroy() {
      destroyed ??= (async () => {
        await ws.destroy();
        await jobs?.destroy();
        await manager.destroy();
        await modelCatalog.destroy();
        await live?.destroy();
        await new Promise<void>((r) => {
          http.close(() => r());
          http.closeAllConnections();
        });
        hls.destroy();
        if (!opts.sessions) await models.destroy();
        metrics.destroy();
        if (!opts.sink) await sink.destroy();
      })();
      return destroyed;
    },
  };
}

/** The folder `liveRecordPictures` asks for (null: pictures are not stored); checked before a model is loaded. */
function livePicturesDir(opts: ServeOptions): string | null {
  const want = opts.liveRecordPictures;
  if (!want || !opts.live) return null;
  if (typeof want === 'string') return resolve(want);
  const st = opts.store;
  const file = typeof st === 'string' ? (isPostgresSpec(st) ? null : st) : st instanceof SessionStore ? st.path : st?.kind === 'sqlite' ? st.location : null;
  if (file) return join(dirname(resolve(file)), 'live-pictures');
  throw new CinesegError(ErrorCode.E_USAGE, '--live-record-pictures needs a folder or a SQLite --store (the pictures go beside it)');
}

/**
 * Where a store's fine-tuned bundles go: beside a SQLite file; for PostgreSQL, whose data has no
 * folder, beside the per-user default store (store/open-store.ts), not in the working folder.
 */
function storeModelsDir(store: AnnotationStore): string {
  return defaultModelsDir(store.kind === 'sqlite' ? store.location : userStorePath());
}

/** Fine-tuned bundles of a store: `cineseg.db` → `cineseg.models/` beside it (never a repository's models/). */
export function defaultModelsDir(storePath: string): string {
  return join(dirname(storePath), `${basename(storePath).replace(/\.(db|sqlite3?)$/i, '')}.models`);
}

/** Who this server's sessions and approvals are recorded as (no per-user tokens yet): the OS user, else 'local'. */
function serverUser(): string {
  try {
    return userInfo().username || 'local';
  } catch {
    return 'local';
  }
}

/** The live input and, when it is a file, its path: neither is repeated in logs (a URL may hold a password). */
function liveRedactions(live: string | undefined): [string, string][] {
  if (!live) return [];
  const target = live.startsWith('loop:') ? live.slice(5) : live;
  const out: [string, string][] = [
    [live, '<live source>'],
    [target, '<live source>'],
  ];
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target) && target !== '-') out.push([resolve(target), '<live source>']);
  return out;
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  // Mid-body there is no way to say what went wrong: the client sees a cut response.
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.end(JSON.stringify({ code, message }));
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
