/**
 * The main thread's side of the inference worker: starts inference-worker.ts in a worker_threads
 * Worker with a bundle, sends it one graph run at a time and turns its replies back into
 * ort.Tensor outputs or CinesegErrors with the worker's code. ort-sessions.ts puts its RunQueue in
 * front, so at most one run is in the worker at a time and the queue decides which goes next.
 *
 * A plain worker_threads Worker, not a pool (piscina is not a dependency, and a pool would not
 * help: one worker already keeps the event loop free, and a second would only split the same
 * cores between two copies of the model).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { CinesegError, ErrorCode } from '../errors.js';
import { cacheDir } from '../paths.js';
import type { Bundle, GraphKey } from './bundle.js';
import { packTensors, unpackError, unpackTensors, type FromWorker, type ToWorker, type WorkerSessionOptions } from './tensor-wire.js';
import { addTraffic, emptyTraffic, type TensorTraffic } from './tensor-traffic.js';

export interface WorkerEp {
  ep: string;
  requested: string;
  reason: string;
}

let bundledEntry: Promise<URL> | null = null;

/**
 * The worker's entry file. Built (engine/dist) it is inference-worker.js beside this module. Run
 * from the TypeScript sources (vitest), Node 20 cannot start a .ts worker, so the entry is
 * bundled once per process with esbuild (a dependency of vitest's Vite; only this development
 * path needs it) into .cache/inference-worker/, named by the content's hash so that concurrent
 * test processes agree and a changed source gets a new file.
 */
async function workerEntry(): Promise<URL> {
  const js = new URL('./inference-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  bundledEntry ??= (async () => {
    const spec = 'esbuild';
    const esbuild = (await import(spec)) as {
      build(o: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
    };
    const res = await esbuild.build({
      entryPoints: [fileURLToPath(new URL('./inference-worker.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      write: false,
      logLevel: 'silent',
    });
    const text = res.outputFiles[0]!.text;
    const dir = cacheDir('inference-worker');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `inference-worker-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, file);
    }
    return pathToFileURL(file);
  })();
  return bundledEntry;
}

/** One worker thread holding one bundle's sessions. */
export class WorkerSessions {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: ort.InferenceSession.OnnxValueMapType) => void; reject: (e: unknown) => void }>();
  private dead: CinesegError | null = null;
  private destroying: Promise<void> | null = null;
  /** Milliseconds the last run spent inside the worker (graph time, without the hops). */
  lastRunMs = 0;
  /** The worker's thread id while it runs; null once it has exited. */
  threadId: number | null;
  /** Every tensor crosses the thread as CPU memory (see ModelSessionOptions.deviceFeatures). */
  readonly deviceResident = false;
  readonly traffic: TensorTraffic = emptyTraffic();

  private constructor(
    private readonly worker: Worker,
    readonly ep: WorkerEp,
    private readonly logLine: (line: string) => void,
  ) {
    this.threadId = worker.threadId;
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (e) => this.fail(new CinesegError(ErrorCode.E_MODEL_RUN, `inference worker failed: ${e.message}`, { cause: e })));
    worker.on('exit', (code) => {
      this.threadId = null;
      this.fail(new CinesegError(this.destroying ? ErrorCode.E_TRACKER_DESTROYED : ErrorCode.E_MODEL_RUN, this.destroying ? 'model sessions were released' : `inference worker exited (code ${code})`));
    });
    // The worker alone should not keep a process alive (a CLI that ends without destroy());
    // it is referenced while a run is out (see run()).
    worker.unref();
  }

  /**
   * Starts the worker and waits until its sessions exist.
   *
   * @throws CinesegError whatever ModelSessions.create throws in the worker (same code), E_MODEL_RUN when the thread dies
   */
  static async start(bundle: Bundle, options: WorkerSessionOptions, log: (line: string) => void): Promise<WorkerSessions> {
    const worker = new Worker(await workerEntry(), { workerData: { bundle, options }, stderr: false });
    const ep = await new Promise<WorkerEp>((resolve, reject) => {
      const onMessage = (msg: FromWorker) => {
        if (msg.type === 'log') log(msg.line);
        else if (msg.type === 'ready') done(() => resolve(msg.ep));
        else if (msg.type === 'startFailed') done(() => reject(unpackError(msg.error)));
      };
      const onError = (e: Error) => done(() => reject(new CinesegError(ErrorCode.E_MODEL_RUN, `inference worker failed to start: ${e.message}`, { cause: e })));
      const onExit = (code: number) => done(() => reject(new CinesegError(ErrorCode.E_MODEL_RUN, `inference worker exited while starting (code ${code})`)));
      const done = (settle: () => void) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        settle();
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (e: unknown) => {
      await worker.terminate().catch(() => undefined);
      throw e;
    });
    return new WorkerSessions(worker, ep, log);
  }

  /** Sends one run; the caller (RunQueue) sends the next only after this one settled. */
  run(key: GraphKey, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
    if (this.dead) return Promise.reject(this.dead);
    addTraffic(this.traffic, Object.values(feeds), 'in');
    const transfer: ArrayBuffer[] = [];
    const msg: ToWorker = { type: 'run', id: this.nextId++, key, feeds: packTensors(feeds, transfer, true) };
    return new Promise((resolve, reject) => {
      this.pending.set(msg.id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage(msg, transfer);
    });
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'log') return this.logLine(msg.line);
    if (msg.type !== 'result' && msg.type !== 'failed') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0) this.worker.unref();
    if (msg.type === 'result') {
      this.lastRunMs = msg.ms;
      const outputs = unpackTensors(msg.outputs);
      addTraffic(this.traffic, Object.values(outputs), 'out');
      p.resolve(outputs);
    } else {
      p.reject(unpackError(msg.error));
    }
  }

  private fail(error: CinesegError): void {
    this.dead ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  /**
   * Releases the sessions inside the worker (so onnxruntime frees them the way it does on the
   * main thread), then ends the thread. Runs still out are rejected with E_TRACKER_DESTROYED.
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.fail(new CinesegError(ErrorCode.E_TRACKER_DESTROYED, 'model sessions were released'));
      this.worker.ref();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        const onMessage = (m: FromWorker) => {
          if (m.type !== 'released') return;
          clearTimeout(timer);
          resolve();
        };
        this.worker.on('message', onMessage);
        this.worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        try {
          this.worker.postMessage({ type: 'release' } satisfies ToWorker);
        } catch {
          resolve();
        }
      });
      await this.worker.terminate().catch(() => undefined);
    })();
    return this.destroying;
  }
}
