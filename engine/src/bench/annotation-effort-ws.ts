/**
 * Annotation effort through the player's protocol path: the robot of annotation-effort.ts (same
 * first click, same corrective-click rule, same stopping rule, same J) drives a real server over
 * a WebSocket with the messages the player sends — startSession on the clip, addPoints with
 * clearOld: false for every click (the player's recorded-session clicks), propagate — and scores
 * the masks the server streams back (binary mask messages, decoded at video size). The API robot
 * runs on the same clips in the same run, so the report puts clicksViaApi and clicksViaProtocol
 * side by side.
 *
 * Two propagation plans, because the player's and the API robot's differ:
 * - `player`: what the Propagate button sends in its default mode (player/src/timeline/
 *   propagation-plan.ts, mode `prompt`, forward): from the last corrected frame, so frames before
 *   a correction keep their masks (the issue's "a correction re-tracks from its frame");
 * - `earliest`: propagate without a startFrame (the server's default: the earliest prompted
 *   frame), as the API robot re-propagates after every click. Same requests otherwise: with this
 *   plan the two paths must give the same clicks, which checks the transport and the server's
 *   mask encoding, not the tracker.
 * A clip cut to its first `maxFrames` frames is honoured with propagate's maxFrames (the server
 * still decodes the whole clip).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { CinesegError, ErrorCode } from '../errors.js';
import { farthestInteriorPoint } from '../mask/distance-transform.js';
import { jaccard } from '../mask/metrics.js';
import { decodeMask } from '../mask/rle.js';
import type { VisJson } from '../mask/vis-json.js';
import { loadBundle } from '../model/bundle.js';
import { defaultBundleDir, GENERATED_SAMPLES_DIR } from '../paths.js';
import { ModelSessions } from '../model/ort-sessions.js';
import { binaryKind, decodeMaskFrame, PROTOCOL_VERSION, WS_PATH, type ServerMessage } from '../protocol.js';
import { MemorySink } from '../server/annotation-sink.js';
import { startServer } from '../server/http-server.js';
import { EFFORT_CLIPS, EFFORT_QUICK, sampleClips, type EffortClip } from './annotation-effort.js';
import { correctiveClick, loadGt, runRobotAnnotator, scoreStep, type CurvePoint } from './robot-annotator.js';
import { printResult } from './print-result.js';

export type PropagationPlan = 'player' | 'earliest';

export interface ProtocolRobotOptions {
  /** ws://host:port/ws of a running server whose media holds the clip. */
  wsUrl: string;
  /** The clip's id in that server's catalog (GET /api/clips). */
  clipId: string;
  gt: string | VisJson;
  objectId: number;
  maxClicks?: number;
  targetJ?: number;
  maxFrames?: number;
  plan?: PropagationPlan;
  log?: (line: string) => void;
}

export interface ProtocolRobotResult {
  clipId: string;
  objectId: number;
  plan: PropagationPlan;
  frames: number;
  reached: boolean;
  clicksToFinish: number | null;
  clicksUsed: number;
  curve: CurvePoint[];
  clicks: { click: number; frame: number; x: number; y: number; label: 0 | 1; jAfterClick: number }[];
  /** Requests sent, by type (what the robot cost on the wire). */
  requests: Record<string, number>;
  /** Mask messages received for the session. */
  maskMessages: number;
  wallSeconds: number;
}

type Reply = Extract<ServerMessage, { type: 'ack' | 'sessionStarted' | 'error' }>;

/** A protocol client as the player's connection.ts is: seq-matched replies, binary masks to a listener. */
class ProtocolClient {
  private seq = 1;
  private readonly pending = new Map<number, (m: Reply) => void>();
  private readonly waiters: { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  readonly sent: Record<string, number> = {};
  onMask: (data: Uint8Array) => void = () => undefined;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const u = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        if (binaryKind(u) === 'mask') this.onMask(u);
        return;
      }
      const m = JSON.parse(data.toString('utf8')) as ServerMessage;
      if (m.seq !== null && (m.type === 'ack' || m.type === 'sessionStarted' || m.type === 'error')) {
        const p = this.pending.get(m.seq);
        if (p) {
          this.pending.delete(m.seq);
          p(m);
        }
      }
      for (let i = 0; i < this.waiters.length; i++) {
        if (this.waiters[i]!.pred(m)) this.waiters.splice(i--, 1)[0]!.resolve(m);
      }
    });
  }

  static connect(url: string): Promise<ProtocolClient> {
    const ws = new WebSocket(url);
    return new Promise((res, rej) => {
      ws.once('open', () => res(new ProtocolClient(ws)));
      ws.once('error', rej);
    });
  }

  get nextSeq(): number {
    return this.seq;
  }

  /** Sends a request; resolves with its ack / sessionStarted, throws the server's coded error. */
  async request(msg: Record<string, unknown> & { type: string }): Promise<Reply> {
    const seq = this.seq++;
    const reply = new Promise<Reply>((res) => this.pending.set(seq, res));
    this.sent[msg.type] = (this.sent[msg.type] ?? 0) + 1;
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, seq, ...msg }));
    const r = await reply;
    if (r.type === 'error') throw new CinesegError(ErrorCode.E_INTERNAL, `${msg.type}: ${r.code}: ${r.message}`);
    return r;
  }

  /** A promise of the next message matching `pred` (register it before sending what causes it). */
  next(pred: (m: ServerMessage) => boolean): Promise<ServerMessage> {
    return new Promise((res) => this.waiters.push({ pred, resolve: res }));
  }

  close(): Promise<void> {
    return new Promise((res) => {
      if (this.ws.readyState === WebSocket.CLOSED) return res();
      this.ws.once('close', () => res());
      this.ws.close();
    });
  }
}

/** Runs the robot over the protocol on one object of one clip; see the module comment. */
export async function runRobotViaProtocol(opts: ProtocolRobotOptions): Promise<ProtocolRobotResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const maxClicks = opts.maxClicks ?? 20;
  const targetJ = opts.targetJ ?? 0.85;
  const plan = opts.plan ?? 'player';
  const gt = loadGt(opts.gt, opts.objectId);
  const c = await ProtocolClient.connect(opts.wsUrl);
  try {
    const st = await c.request({ type: 'startSession', clip: opts.clipId });
    if (st.type !== 'sessionStarted' || st.numFrames === null) throw new CinesegError(ErrorCode.E_INTERNAL, `startSession answered ${st.type}`);
    const { sessionId, handle, width: w, height: h } = st;
    if (w !== gt.width || h !== gt.height) throw new CinesegError(ErrorCode.E_MASK_INVALID, `${opts.clipId} is ${w}x${h}, its ground truth ${gt.width}x${gt.height}`);
    const n = Math.min(st.numFrames, gt.length, opts.maxFrames ?? Infinity);
    const id = opts.objectId;
    const empty = new Uint8Array(w * h);
    const gtAt = (i: number) => gt.masks[i] ?? empty;
    // The page's masks: what the server last sent for each frame (never sent: empty).
    const pred: Uint8Array[] = Array.from({ length: n }, () => new Uint8Array(w * h));
    let maskMessages = 0;
    c.onMask = (data) => {
      const m = decodeMaskFrame(data);
      if (m.handle !== handle || m.objectId !== id) return;
      maskMessages++;
      if (m.frame < n) decodeMask({ size: [h, w], counts: [...m.counts] }, pred[m.frame]);
    };
    const first = gt.masks.findIndex((m, i) => i < n && m !== null);
    if (first < 0) throw new CinesegError(ErrorCode.E_USAGE, `object ${id} is absent from all ${n} frames`);

    const evaluate = (k: number) => scoreStep(k, pred, gtAt, n, w, h, targetJ);
    const click = (frame: number, x: number, y: number, label: 0 | 1) => c.request({ type: 'addPoints', sessionId, frame, objectId: id, points: [{ x, y, label }], clearOld: false });
    /** One propagate as the plan says, answered when its propagateDone has come (the masks came before it). */
    const propagate = async (corrected: number, earliest: number) => {
      const start = plan === 'player' ? corrected : earliest;
      const seq = c.nextSeq;
      const done = c.next((m) => m.type === 'propagateDone' && m.seq === seq);
      const maxFrames = n < st.numFrames! ? { maxFrames: n - 1 - start } : {};
      await c.request({ type: 'propagate', sessionId, direction: 'forward', ...(plan === 'player' ? { startFrame: start } : {}), ...maxFrames });
      await done;
    };

    const curve: CurvePoint[] = [];
    const clicks: ProtocolRobotResult['clicks'] = [];
    const p1 = farthestInteriorPoint(gt.masks[first]!, w, h)!;
    await click(first, p1.x, p1.y, 1);
    clicks.push({ click: 1, frame: first, x: p1.x, y: p1.y, label: 1, jAfterClick: jaccard(pred[first]!, gtAt(first)) });
    let earliest = first;
    await propagate(first, earliest);
    let state = evaluate(1);
    curve.push(state.point);
    log(`ws click 1 @${first} (${p1.x},${p1.y}) +: J&F ${state.point.JF.toFixed(3)}, min J ${state.point.minJ.toFixed(3)} @${state.point.worstFrame}`);
    while (state.point.minJ < targetJ && clicks.length < maxClicks) {
      const k = clicks.length + 1;
      const f = state.point.worstFrame;
      const { label, point: pt } = correctiveClick(gtAt(f), pred[f]!, w, h);
      await click(f, pt.x, pt.y, label);
      clicks.push({ click: k, frame: f, x: pt.x, y: pt.y, label, jAfterClick: jaccard(pred[f]!, gtAt(f)) });
      earliest = Math.min(earliest, f);
      await propagate(f, earliest);
      state = evaluate(k);
      curve.push(state.point);
      log(`ws click ${k} @${f} (${pt.x},${pt.y}) ${label ? '+' : '-'}: J&F ${state.point.JF.toFixed(3)}, min J ${state.point.minJ.toFixed(3)} @${state.point.worstFrame}`);
    }
    await c.request({ type: 'closeSession', sessionId });
    const reached = state.point.minJ >= targetJ;
    return {
      clipId: opts.clipId,
      objectId: id,
      plan,
      frames: n,
      reached,
      clicksToFinish: reached ? clicks.length : null,
      clicksUsed: clicks.length,
      curve,
      clicks,
      requests: { ...c.sent },
      maskMessages,
      wallSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await c.close();
  }
}

/** A sample clip's id in the catalog of a server whose media folder is the clip folder's parent (clip-catalog.ts naming). */
export function catalogIdOf(video: string): { media: string; id: string } {
  const media = dirname(dirname(resolve(video)));
  let rel = relative(media, resolve(video)).slice(0, -extname(video).length).split('\\').join('/');
  if (basename(rel) === 'clip' && rel.includes('/')) rel = rel.slice(0, rel.lastIndexOf('/'));
  return { media, id: `${basename(media)}/${rel}` };
}

export interface EffortPathsRow {
  name: string;
  frames: number;
  /** Clicks to finish (null: not within maxClicks) by the engine API robot, and by the protocol robot with each plan. */
  clicksViaApi: number | null;
  clicksViaProtocol: number | null;
  clicksViaProtocolEarliest?: number | null;
  finalJFViaApi: number;
  finalJFViaProtocol: number;
  /** Requests the protocol robot (player plan) sent, by type. */
  requests: Record<string, number>;
  /** Each path's clicks in order, `frame:x,y±` (where the paths part, if they do). */
  trace: { api: string[]; protocol: string[]; protocolEarliest?: string[] };
  secondsViaApi: number;
  secondsViaProtocol: number;
}

const clickText = (c: { frame: number; x: number; y: number; label: 0 | 1 }) => `${c.frame}:${c.x},${c.y}${c.label ? '+' : '-'}`;

export interface EffortPathsSummary {
  model: string;
  maxClicks: number;
  targetJ: number;
  /** Means over the clips, an unfinished object counted as maxClicks. */
  clicksViaApi: number;
  clicksViaProtocol: number;
  clicksViaProtocolEarliest?: number;
  rows: EffortPathsRow[];
  wallSeconds: number;
}

/**
 * Both paths on the same clips in one run, one set of model sessions: the API robot, then a real
 * server (127.0.0.1, port 0, on these sessions) driven over its WebSocket with the player plan,
 * and with the `earliest` plan too when `control` (default true).
 */
export async function compareEffortPaths(
  clips: readonly EffortClip[],
  opts: { sessions?: ModelSessions; bundleDir?: string; maxClicks?: number; targetJ?: number; control?: boolean; log?: (line: string) => void } = {},
): Promise<EffortPathsSummary> {
  if (clips.length === 0) throw new CinesegError(ErrorCode.E_USAGE, 'no clips to annotate');
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const own = opts.sessions ? null : await ModelSessions.create(loadBundle(opts.bundleDir ?? defaultBundleDir()), { ep: 'auto', log });
  const sessions = opts.sessions ?? own!;
  const maxClicks = opts.maxClicks ?? 20;
  const targetJ = opts.targetJ ?? 0.85;
  const common = { maxClicks, targetJ };
  const rows: EffortPathsRow[] = [];
  const cache = mkdtempSync(join(tmpdir(), 'cineseg-effort-ws-'));
  const servers = new Map<string, Awaited<ReturnType<typeof startServer>>>();
  try {
    for (const clip of clips) {
      const { media, id } = catalogIdOf(clip.video);
      let server = servers.get(media);
      if (!server) {
        server = await startServer({ port: 0, sessions, sink: new MemorySink(), media: [media], cacheDir: join(cache, 'hls'), playerDir: join(cache, 'no-player') });
        servers.set(media, server);
      }
      const wsUrl = `${server.url.replace(/^http/, 'ws').replace(/\/$/, '')}${WS_PATH}`;
      const frames = clip.maxFrames === undefined ? {} : { maxFrames: clip.maxFrames };
      const api = await runRobotAnnotator({ video: clip.video, gt: clip.gt, objectId: clip.objectId, sessions, ...frames, ...common });
      const ws = await runRobotViaProtocol({ wsUrl, clipId: id, gt: clip.gt, objectId: clip.objectId, plan: 'player', ...frames, ...common });
      const control = opts.control === false ? null : await runRobotViaProtocol({ wsUrl, clipId: id, gt: clip.gt, objectId: clip.objectId, plan: 'earliest', ...frames, ...common });
      const row: EffortPathsRow = {
        name: clip.name,
        frames: api.frames,
        clicksViaApi: api.clicksToFinish,
        clicksViaProtocol: ws.clicksToFinish,
        ...(control ? { clicksViaProtocolEarliest: control.clicksToFinish } : {}),
        finalJFViaApi: api.curve[api.curve.length - 1]!.JF,
        finalJFViaProtocol: ws.curve[ws.curve.length - 1]!.JF,
        requests: ws.requests,
        trace: { api: api.clicks.map(clickText), protocol: ws.clicks.map(clickText), ...(control ? { protocolEarliest: control.clicks.map(clickText) } : {}) },
        secondsViaApi: api.wallSeconds,
        secondsViaProtocol: ws.wallSeconds,
      };
      log(
        `${clip.name}: api ${row.clicksViaApi ?? `>${maxClicks}`} clicks, protocol ${row.clicksViaProtocol ?? `>${maxClicks}`}${control ? `, protocol (earliest) ${control.clicksToFinish ?? `>${maxClicks}`}` : ''}`,
      );
      rows.push(row);
    }
    const mean = (f: (r: EffortPathsRow) => number | null | undefined) => rows.reduce((a, r) => a + (f(r) ?? maxClicks), 0) / rows.length;
    return {
      model: sessions.bundle.name,
      maxClicks,
      targetJ,
      clicksViaApi: mean((r) => r.clicksViaApi),
      clicksViaProtocol: mean((r) => r.clicksViaProtocol),
      ...(opts.control === false ? {} : { clicksViaProtocolEarliest: mean((r) => r.clicksViaProtocolEarliest) }),
      rows,
      wallSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const s of servers.values()) await s.destroy();
    await own?.destroy();
    rmSync(cache, { recursive: true, force: true });
  }
}

// `node engine/dist/bench/annotation-effort-ws.js [--quick] [--model <bundle>]`: both paths on the bench's clips, as JSON.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--model');
  const model = i > 0 ? process.argv[i + 1] : undefined;
  const quick = process.argv.includes('--quick');
  const root = GENERATED_SAMPLES_DIR;
  const clips = quick ? sampleClips(root, EFFORT_QUICK.clips, { maxFrames: EFFORT_QUICK.maxFrames }) : sampleClips(root, EFFORT_CLIPS);
  printResult(compareEffortPaths(clips, { ...(model ? { bundleDir: model } : {}), log: (l) => process.stderr.write(`${l}\n`) }));
}
