/**
 * The one module that owns onnxruntime-node sessions. The execution provider is resolved once
 * per process from a small table; when the requested one cannot run here we fall back to the CPU
 * and say why, because a silent fallback turns a 30 ms frame into a 3 s frame with no clue.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CinesegError, ErrorCode } from '../errors.js';
import { contractFor, diffIo, GRAPH_KEYS, type Bundle, type GraphKey, type IoSpec } from './bundle.js';
import { floatToHalf, halfToFloat } from './float16.js';
import { RunQueue, type RunPriority } from './run-queue.js';
import { addTraffic, emptyTraffic, type TensorTraffic } from './tensor-traffic.js';
import { withoutSharedMemory } from './tensor-wire.js';
import { WorkerSessions } from './worker-sessions.js';

export type { RunPriority } from './run-queue.js';
export type { TensorTraffic } from './tensor-traffic.js';

export type ExecutionProvider = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';
export type ExecutionProviderRequest = ExecutionProvider | 'auto';

/** What each provider needs; `auto` tries them in this order. */
const EP_TABLE: readonly { name: ExecutionProvider; auto: boolean; note: string }[] = [
  { name: 'tensorrt', auto: false, note: 'needs TensorRT libraries next to onnxruntime-node' },
  { name: 'cuda', auto: true, note: 'needs an NVIDIA GPU and the CUDA build of onnxruntime-node' },
  // Dawn on a headless server may pick a software adapter; only used when asked for.
  { name: 'webgpu', auto: false, note: 'needs a WebGPU adapter (Dawn)' },
  { name: 'cpu', auto: true, note: 'always available' },
];

export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = EP_TABLE.map((e) => e.name);

let supportedCache: Set<string> | undefined;
function supportedBackends(): Set<string> {
  if (!supportedCache) {
    const list = (ort as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.() ?? [{ name: 'cpu' }];
    supportedCache = new Set(list.map((b) => b.name));
  }
  return supportedCache;
}

/**
 * CUDA and TensorRT live in separate provider libraries next to the binding; when they are absent
 * ORT prints a native error on every attempt, so look for the file first.
 */
function providerLibraryPresent(ep: ExecutionProvider): boolean {
  if (ep !== 'cuda' && ep !== 'tensorrt') return true;
  try {
    const bin = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
    const file = process.platform === 'win32' ? `onnxruntime_providers_${ep}.dll` : `libonnxruntime_providers_${ep}.so`;
    for (const napi of readdirSync(bin)) {
      if (existsSync(join(bin, napi, process.platform, process.arch, file))) return true;
    }
  } catch {
    return true; // unknown layout: let ORT decide
  }
  return false;
}

export interface EpChoice {
  /** The provider the sessions run on. */
  ep: ExecutionProvider;
  /** What was asked for. */
  requested: ExecutionProviderRequest;
  /** Why `ep` differs from `requested` (empty when it does not). */
  reason: string;
}

export interface ModelSessionOptions {
  ep?: ExecutionProviderRequest;
  /** Throw E_EP_UNAVAILABLE instead of falling back to the CPU. */
  strictEp?: boolean;
  /** ORT intra-op threads (0 = ORT's default). */
  threads?: number;
  /** Let ORT's idle threads spin (default false; CINESEG_ORT_SPIN=1 turns it on). */
  spin?: boolean;
  /**
   * ORT's CPU memory arena (default: $CINESEG_ORT_ARENA=0/1, else on; `serve` turns it off unless CINESEG_ORT_ARENA=1, see http-server.ts serverArena). The arena keeps what
   * it once held; in the 50,000-frame soak, RSS crept by ≈ 0.2 kB per frame with it and showed no
   * clear trend without it over 12,000 frames (see docs/benchmarks.md).
   */
  arena?: boolean;
  /**
   * Let onnxruntime's own warnings through to stderr (default false; CINESEG_ORT_VERBOSE=1). They
   * are meant for whoever builds the graphs (e.g. WebGPU's "some nodes were not assigned to the
   * preferred execution providers", printed per graph at every start), not for the user's terminal.
   */
  verbose?: boolean;
  /**
   * Keep the outputs listed in DEVICE_RESIDENT_OUTPUTS on the device when the graphs run on
   * `webgpu`, and feed them to the next graph from there (default: on; CINESEG_DEVICE_FEATURES=0
   * turns it off). Never in worker mode: a device tensor cannot cross a thread.
   */
  deviceFeatures?: boolean;
  /** One line per decision (EP choice, fallback reason). */
  log?: (line: string) => void;
  /**
   * Run the graphs in a worker thread (worker-sessions.ts) instead of on this thread's event
   * loop. Default: $CINESEG_ORT_WORKER (1/0), else off here; `serve` turns it on (see
   * http-server.ts). Off by default for `track`, `batch` and the rest: they have no event loop
   * to keep free, and `track` of ultrasound-1 (90 frames, 2 objects, 2 cores) took 2.9-4.3 s
   * inline and 4.7-5.1 s in the worker (thread start, one input copy and two thread hops per
   * graph run), with byte-identical masks.
   */
  worker?: boolean;
}

/** $CINESEG_ORT_WORKER as a choice: '1' on, '0' off, unset (or anything else) no opinion. */
export function workerModeFromEnv(): boolean | undefined {
  const v = process.env.CINESEG_ORT_WORKER;
  return v === '1' ? true : v === '0' ? false : undefined;
}

/**
 * Graph outputs that only ever feed another graph, so on a device provider they can stay there.
 * The image encoder's two high-resolution levels go to the mask decoder and nowhere else: 3·C·h²
 * floats a frame (12.6 MB for sam2.1_hiera_t at 1024 px) that would otherwise be copied out once
 * and in again at every decoder run. `vision_feat` stays on the CPU: the engine reads it
 * (`+ no_mem_embed`, the mask-prompt decoder input), and onnxruntime-node 1.30 cannot read a
 * device tensor back (its `download` is a stub that throws, which aborts the process:
 * test/engine/model/webgpu-device-tensors.test.ts). Memory-attention and memory-encoder outputs stay
 * on the CPU for the same reason: conditioned features are gathered per object group into one
 * decoder input, and memories are stored, compacted and concatenated into the bank by the CPU.
 */
export const DEVICE_RESIDENT_OUTPUTS: Readonly<Partial<Record<GraphKey, readonly string[]>>> = {
  imageEncoder: ['high_res_feat0', 'high_res_feat1'],
};

/** Where the graphs run: on this thread, or in the worker. */
interface SessionBackend {
  run(key: GraphKey, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType>;
  destroy(): Promise<void>;
  /** Whether some outputs stay on the device (DEVICE_RESIDENT_OUTPUTS). */
  readonly deviceResident: boolean;
  readonly traffic: TensorTraffic;
}

/** What a ModelSessions and its priority views share. */
interface SessionsCore {
  backend: SessionBackend;
  queue: RunQueue;
  destroyed: boolean;
  inWorker: boolean;
}

/** The priority of runs started inside ModelSessions.withPriorityScope (see there). */
const priorityScope = new AsyncLocalStorage<RunPriority>();

/**
 * A failed run comes back to us as an exception and is reported as E_MODEL_RUN; without this ORT
 * also prints it to stderr itself, which for a live stream failing on every frame is 30 lines a
 * second of the same text.
 */
const RUN_OPTIONS: ort.InferenceSession.RunOptions = { logSeverityLevel: 4 };

/** The four sessions of a bundle, created together and released together. */
export class ModelSessions {
  private constructor(
    readonly bundle: Bundle,
    readonly ep: EpChoice,
    private readonly core: SessionsCore,
    /** Set on views made by withPriority; undefined: the scope's priority, else 'interactive'. */
    private readonly priority?: RunPriority,
  ) {}

  /**
   * Creates the sessions for `bundle`, resolving the execution provider (with CPU fallback) and
   * checking every graph's real inputs/outputs against the manifest before returning. With
   * `worker` they are created, checked and run in a worker thread; the choice and errors are
   * the same.
   *
   * @throws CinesegError E_EP_UNAVAILABLE (strict only), E_BUNDLE_GRAPH_MISMATCH, E_MODEL_RUN
   */
  static async create(bundle: Bundle, opts: ModelSessionOptions = {}): Promise<ModelSessions> {
    if (opts.worker ?? workerModeFromEnv() ?? false) {
      // Checked here as well as in the worker: a bad name should not cost a thread start.
      candidatesFor(opts.ep ?? 'auto');
      const w = await WorkerSessions.start(
        bundle,
        {
          ...(opts.ep === undefined ? {} : { ep: opts.ep }),
          ...(opts.strictEp === undefined ? {} : { strictEp: opts.strictEp }),
          ...(opts.threads === undefined ? {} : { threads: opts.threads }),
          ...(opts.spin === undefined ? {} : { spin: opts.spin }),
          ...(opts.arena === undefined ? {} : { arena: opts.arena }),
          ...(opts.verbose === undefined ? {} : { verbose: opts.verbose }),
        },
        opts.log ?? (() => undefined),
      );
      const ep: EpChoice = { ep: w.ep.ep as ExecutionProvider, requested: w.ep.requested as ExecutionProviderRequest, reason: w.ep.reason };
      return new ModelSessions(bundle, ep, { backend: w, queue: new RunQueue(), destroyed: false, inWorker: true });
    }
    const { ep, sessions, deviceResident } = await createInline(bundle, opts);
    return new ModelSessions(bundle, ep, { backend: new InlineSessions(bundle, sessions, deviceResident), queue: new RunQueue(), destroyed: false, inWorker: false });
  }

  get isDestroyed(): boolean {
    return this.core.destroyed;
  }

  /** Whether the graphs run in a worker thread. */
  get inWorker(): boolean {
    return this.core.inWorker;
  }

  /** The inference worker's thread id while it runs (null: inline, or the worker has ended). */
  get workerThreadId(): number | null {
    return this.core.backend instanceof WorkerSessions ? this.core.backend.threadId : null;
  }

  /** Whether image features stay on the device between graphs (see DEVICE_RESIDENT_OUTPUTS). */
  get deviceResident(): boolean {
    return this.core.backend.deviceResident;
  }

  /** Tensor bytes in and out of the graphs so far, by location (copies, on a device provider). */
  get traffic(): Readonly<TensorTraffic> {
    return { ...this.core.backend.traffic };
  }

  /** Runs waiting for the model, and runs started so far by priority (for metrics and tests). */
  get queue(): { waiting: number; started: Readonly<Record<RunPriority, number>> } {
    return { waiting: this.core.queue.waiting, started: this.core.queue.started };
  }

  /**
   * The same sessions, with every run made through the view at priority `p` (live frames:
   * 'live'; recorded propagation: 'propagate'). Views share the queue and the sessions;
   * destroying a view destroys the sessions, so only the owner should.
   */
  withPriority(p: RunPriority): ModelSessions {
    return new ModelSessions(this.bundle, this.ep, this.core, p);
  }

  /**
   * Runs `fn` so that every graph run it starts (through any await chain) without a view's
   * priority has priority `p`: for code that shares one tracker between prompts and propagation,
   * e.g. `ModelSessions.withPriorityScope('propagate', () => this.runPropagation(...))`.
   */
  static withPriorityScope<T>(p: RunPriority, fn: () => T): T {
    return priorityScope.run(p, fn);
  }

  /**
   * Runs one graph, turning ORT failures into E_MODEL_RUN with the graph's name. Runs go one at
   * a time through the queue, the most urgent priority first.
   */
  async run(key: GraphKey, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
    if (this.core.destroyed) throw new CinesegError(ErrorCode.E_TRACKER_DESTROYED, 'model sessions were released');
    const priority = this.priority ?? priorityScope.getStore() ?? 'interactive';
    return this.core.queue.push(priority, () => this.core.backend.run(key, feeds));
  }

  /** Releases all four sessions (and the worker thread); safe to call twice. */
  async destroy(): Promise<void> {
    if (this.core.destroyed) return;
    this.core.destroyed = true;
    this.core.queue.close(new CinesegError(ErrorCode.E_TRACKER_DESTROYED, 'model sessions were released'));
    // Releasing a session while its run is still under way crashes onnxruntime-node's native
    // side (seen as `terminate called after throwing Napi::Error`): let that one run end first.
    await this.core.queue.idle();
    await this.core.backend.destroy();
  }
}

/** The sessions on this thread: each run blocks the event loop for the whole graph. */
class InlineSessions implements SessionBackend {
  readonly traffic: TensorTraffic = emptyTraffic();

  constructor(
    private readonly bundle: Bundle,
    private readonly sessions: Record<GraphKey, ort.InferenceSession>,
    readonly deviceResident: boolean,
  ) {}

  async run(key: GraphKey, given: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
    const feeds = withoutSharedMemory(given);
    addTraffic(this.traffic, Object.values(feeds), 'in');
    try {
      const out = this.bundle.precision === 'fp16' ? await this.runHalf(key, feeds) : await this.sessions[key].run(feeds, RUN_OPTIONS);
      addTraffic(this.traffic, Object.values(out) as ort.Tensor[], 'out');
      return out;
    } catch (cause) {
      throw new CinesegError(ErrorCode.E_MODEL_RUN, `${key} failed: ${(cause as Error).message.split('\n')[0]}`, {
        cause,
        details: { graph: key },
      });
    }
  }

  /**
   * fp16 bundles take and give float16 tensors; the tracker works in float32 throughout, so
   * convert at this one boundary (float32 feeds -> half bits, half outputs -> float32). In worker
   * mode this runs in the worker too. Device tensors pass as they are: they are float16 on both
   * ends, and their data cannot be read here.
   */
  private async runHalf(key: GraphKey, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
    const half: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      half[name] = t.location === 'cpu' && t.type === 'float32' ? new ort.Tensor('float16', floatToHalf(t.data as Float32Array), t.dims) : t;
    }
    const res = await this.sessions[key].run(half, RUN_OPTIONS);
    const out: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(res)) {
      out[name] = t.location === 'cpu' && t.type === 'float16' ? new ort.Tensor('float32', halfToFloat(t.data as Uint16Array), t.dims) : t;
    }
    return out;
  }

  async destroy(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((s) => s.release().catch(() => undefined)));
  }
}

/** Resolves the provider (with CPU fallback) and creates and checks the four sessions here. */
async function createInline(bundle: Bundle, opts: ModelSessionOptions): Promise<{ ep: EpChoice; sessions: Record<GraphKey, ort.InferenceSession>; deviceResident: boolean }> {
  const requested = opts.ep ?? 'auto';
  const log = opts.log ?? (() => undefined);
  const candidates = candidatesFor(requested);
  const supported = supportedBackends();
  const reasons: string[] = [];
  for (const ep of candidates) {
    if (!supported.has(ep) || !providerLibraryPresent(ep)) {
      reasons.push(`${ep} is not in this onnxruntime-node install (${EP_TABLE.find((e) => e.name === ep)?.note ?? ''})`);
      continue;
    }
    let sessions: ort.InferenceSession[] = [];
    // Only WebGPU hands device tensors to JS in onnxruntime-node ('gpu-buffer'); CUDA outputs come back on the CPU.
    const deviceResident = ep === 'webgpu' && (opts.deviceFeatures ?? process.env.CINESEG_DEVICE_FEATURES !== '0');
    try {
      const arena = opts.arena ?? process.env.CINESEG_ORT_ARENA !== '0';
      const verbose = opts.verbose ?? process.env.CINESEG_ORT_VERBOSE === '1';
      for (const key of GRAPH_KEYS) sessions.push(await createSession(bundle, key, ep, opts.threads ?? 0, opts.spin ?? process.env.CINESEG_ORT_SPIN === '1', arena, verbose, deviceResident));
    } catch (cause) {
      await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
      sessions = [];
      if (cause instanceof CinesegError) throw cause;
      reasons.push(`${ep} failed to start: ${shortOrtMessage((cause as Error).message)}`);
      continue;
    }
    const reason = ep === requested || (requested === 'auto' && reasons.length === 0) ? '' : reasons.join('; ');
    if (requested !== 'auto' && ep !== requested && opts.strictEp) {
      await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
      throw new CinesegError(ErrorCode.E_EP_UNAVAILABLE, `execution provider ${requested} unavailable: ${reason}`, {
        details: { requested, reasons },
      });
    }
    log(`execution provider: ${ep}${reason ? ` (fallback from ${requested}: ${reason})` : ''}${deviceResident ? '; image features kept on the device' : ''}`);
    const byKey = Object.fromEntries(GRAPH_KEYS.map((k, i) => [k, sessions[i]!])) as Record<GraphKey, ort.InferenceSession>;
    return { ep: { ep, requested, reason }, sessions: byKey, deviceResident };
  }
  throw new CinesegError(ErrorCode.E_EP_UNAVAILABLE, `no execution provider could start: ${reasons.join('; ')}`, {
    details: { requested, reasons },
  });
}

/** ORT's native messages start with a source path and assertion text; keep the human part. */
function shortOrtMessage(message: string): string {
  const line = message.split('\n')[0] ?? '';
  if (!line.startsWith('/onnxruntime_src')) return line;
  const parts = line.split(/(?<=\.) /);
  return parts[parts.length - 1] ?? line;
}

function candidatesFor(requested: ExecutionProviderRequest): ExecutionProvider[] {
  if (requested === 'auto') return EP_TABLE.filter((e) => e.auto).map((e) => e.name);
  if (!EXECUTION_PROVIDERS.includes(requested)) {
    throw new CinesegError(ErrorCode.E_USAGE, `unknown execution provider "${String(requested)}"; choose one of: auto, ${EXECUTION_PROVIDERS.join(', ')}`);
  }
  return requested === 'cpu' ? ['cpu'] : [requested, 'cpu'];
}

async function createSession(
  bundle: Bundle,
  key: GraphKey,
  ep: ExecutionProvider,
  threads: number,
  spin: boolean,
  arena: boolean,
  verbose: boolean,
  deviceResident: boolean,
): Promise<ort.InferenceSession> {
  const spec = bundle.graphs[key];
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    // 0 verbose .. 4 fatal: warnings (2) only when asked for, errors always. Info (1) is hundreds
    // of lines per start, of use to no one running a command.
    logSeverityLevel: verbose ? 2 : 3,
    graphOptimizationLevel: 'all',
    enableCpuMemArena: arena,
    enableMemPattern: true,
    executionMode: 'sequential',
  };
  const resident = deviceResident ? DEVICE_RESIDENT_OUTPUTS[key] : undefined;
  if (resident) options.preferredOutputLocation = Object.fromEntries(resident.map((name) => [name, 'gpu-buffer' as const]));
  if (threads > 0) options.intraOpNumThreads = threads;
  // ORT's idle worker threads spin by default; between our runs (JS work, other processes on a
  // small machine) that burns the cores the next run needs. Measured 5x faster tracking without.
  if (!spin) options.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
  const session = await ort.InferenceSession.create(spec.path, options).catch((cause: unknown) => {
    const message = (cause as Error).message ?? String(cause);
    // A graph that does not parse is the bundle's fault, not the provider's.
    if (/protobuf|parse|invalid model|Load model/i.test(message) && ep === 'cpu') {
      throw new CinesegError(ErrorCode.E_BUNDLE_GRAPH_MISMATCH, `${spec.path} is not a loadable ONNX graph: ${message.split('\n')[0]}`, {
        cause,
        details: { graph: key },
      });
    }
    throw cause;
  });
  const diff = checkSession(bundle, key, session);
  if (diff) {
    await session.release().catch(() => undefined);
    throw new CinesegError(ErrorCode.E_BUNDLE_GRAPH_MISMATCH, `${spec.path}: ${diff}`, { details: { graph: key } });
  }
  return session;
}

/** Compares a session's real I/O with the manifest (names, element types, fixed dimensions). */
function checkSession(bundle: Bundle, key: GraphKey, session: ort.InferenceSession): string | undefined {
  const spec = bundle.graphs[key];
  const real = (meta: readonly ort.InferenceSession.ValueMetadata[] | undefined, names: readonly string[]): IoSpec[] =>
    names.map((name, i) => {
      const m = meta?.[i];
      if (!m || !m.isTensor) return { name, dtype: 'float32', shape: [] as (number | string)[] };
      const dtype = m.type === 'int64' ? 'int64' : m.type === 'float16' ? 'float16' : 'float32';
      // Dynamic axes come back as names (or -1 / 0 for anonymous ones).
      const shape = m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : typeof d === 'string' ? d : 'dyn'));
      return { name, dtype, shape };
    });
  const inputs = real(session.inputMetadata, session.inputNames);
  const outputs = real(session.outputMetadata, session.outputNames);
  const names = (io: IoSpec[]) =>
    io
      .map((x) => x.name)
      .sort()
      .join(',');
  if (names(inputs) !== names(spec.inputs)) {
    return `inputs are [${inputs.map((x) => x.name).join(', ')}], the manifest says [${spec.inputs.map((x) => x.name).join(', ')}]`;
  }
  if (names(outputs) !== names(spec.outputs)) {
    return `outputs are [${outputs.map((x) => x.name).join(', ')}], the manifest says [${spec.outputs.map((x) => x.name).join(', ')}]`;
  }
  const expected = contractFor(key, bundle, bundle.precision);
  // Only check fixed dimensions the graph states; a graph may leave more axes dynamic.
  const relax = (io: IoSpec[], exp: IoSpec[]) =>
    io.map((a) => {
      const e = exp.find((x) => x.name === a.name);
      if (!e || a.shape.length === 0) return { ...a, shape: e?.shape ?? a.shape };
      return { ...a, shape: a.shape.map((d, i) => (typeof d === 'string' ? (e.shape[i] ?? d) : d)) };
    });
  return diffIo(relax(inputs, expected.inputs), expected.inputs, 'inputs') ?? diffIo(relax(outputs, expected.outputs), expected.outputs, 'outputs');
}

export { ort };
