/**
 * Entry of the inference worker thread (started by worker-sessions.ts). It owns the four ONNX
 * sessions of one bundle — created by the same ModelSessions code the main thread would use, so
 * the provider choice, fallback, graph checks and fp16 conversion are the same — and runs one
 * graph per `run` message, replying with the outputs as transferables. onnxruntime-node's `run`
 * is synchronous, so here it blocks only this thread; the main thread's event loop stays free.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Bundle } from './bundle.js';
import { ModelSessions } from './ort-sessions.js';
import { packError, packTensors, unpackTensors, type FromWorker, type ToWorker, type WorkerSessionOptions } from './tensor-wire.js';

const port = parentPort;
if (!port) throw new Error('inference-worker.ts is a worker_threads entry, not a module to import');

const { bundle, options } = workerData as { bundle: Bundle; options: WorkerSessionOptions };

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  try {
    port!.postMessage(msg, transfer);
  } catch {
    // An output buffer that cannot be detached (memory owned by native code): send a copy.
    port!.postMessage(msg);
  }
}

async function main(): Promise<void> {
  let sessions: ModelSessions;
  try {
    sessions = await ModelSessions.create(bundle, {
      ...(options as Omit<WorkerSessionOptions, 'ep'>),
      ...(options.ep ? { ep: options.ep as never } : {}),
      // Never nest: this thread is the worker.
      worker: false,
      // Outputs go to the main thread by postMessage, which a device tensor cannot cross.
      deviceFeatures: false,
      log: (line) => send({ type: 'log', line }),
    });
  } catch (e) {
    send({ type: 'startFailed', error: packError(e) });
    return;
  }
  // Runs arrive one at a time (run-queue.ts on the main thread). A release may still come while
  // one is under way (the main thread gave up on it): it waits for that run, because releasing a
  // session mid-run crashes the native side.
  let current: Promise<unknown> = Promise.resolve();
  port!.on('message', (msg: ToWorker) => {
    if (msg.type === 'release') {
      void current.then(() => sessions.destroy()).then(() => send({ type: 'released' }));
      return;
    }
    const t0 = performance.now();
    current = sessions.run(msg.key, unpackTensors(msg.feeds)).then(
      (res) => {
        const transfer: ArrayBuffer[] = [];
        const outputs = packTensors(res as Record<string, never>, transfer, false);
        send({ type: 'result', id: msg.id, outputs, ms: performance.now() - t0 }, transfer);
      },
      (e: unknown) => send({ type: 'failed', id: msg.id, error: packError(e) }),
    );
  });
  send({ type: 'ready', ep: { ...sessions.ep } });
}

void main();
