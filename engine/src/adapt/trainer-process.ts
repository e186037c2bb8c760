/**
 * The Python trainer (models/finetune/run.py) as a child process: one JSON object per stdout line
 * becomes a typed event; stderr (torch's tracer warnings, a traceback) goes to a log file that a
 * failure quotes. Ctrl-C is forwarded as SIGINT, on which the trainer finishes its step, writes a
 * resumable checkpoint and exits 130.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { CinesegError, ErrorCode } from '../errors.js';
import { pythonExecutable, REPO_ROOT, trainerBlasDir } from '../paths.js';

/** A line the trainer printed (see run.py's `emit`). */
export interface TrainerEvent {
  event: string;
  [k: string]: unknown;
}

export interface TrainerRunOptions {
  spec: string;
  /** stderr goes here. */
  logFile: string;
  onEvent?: (e: TrainerEvent) => void;
  /** Abort: SIGINT to the trainer (it checkpoints and exits 130). */
  signal?: AbortSignal;
  threads?: number;
}

export interface TrainerResult {
  events: TrainerEvent[];
  interrupted: boolean;
}

function tail(path: string, lines = 12): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Runs the trainer to its end. Rejects with E_TRAIN_FAILED (and the log's tail) on failure. */
export function runTrainer(opts: TrainerRunOptions): Promise<TrainerResult> {
  const py = pythonExecutable();
  if (!existsSync(py)) {
    return Promise.reject(new CinesegError(ErrorCode.E_TRAIN_UNAVAILABLE, `${py} not found: fine-tuning needs Python 3 with PyTorch (npm run setup installs python3-torch; CINESEG_PYTHON overrides)`));
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
  const blas = trainerBlasDir();
  if (existsSync(blas)) {
    env.LD_LIBRARY_PATH = [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    // One BLAS thread: threads spin against the other work of a small machine (models/tiny/README.md).
    env.OPENBLAS_NUM_THREADS = String(opts.threads ?? 1);
    env.OMP_WAIT_POLICY = 'PASSIVE';
  }
  const log = createWriteStream(opts.logFile);
  return new Promise((resolveP, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(py, ['-m', 'models.finetune.run', '--spec', opts.spec], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (cause) {
      reject(new CinesegError(ErrorCode.E_TRAIN_UNAVAILABLE, `cannot start ${py}: ${(cause as Error).message}`, { cause }));
      return;
    }
    const events: TrainerEvent[] = [];
    const onAbort = () => child.kill('SIGINT');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr!.pipe(log);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      let e: TrainerEvent;
      try {
        e = JSON.parse(line) as TrainerEvent;
      } catch {
        log.write(`${line}\n`);
        return;
      }
      // Step lines are many: keep the last ones only for the caller's summary.
      if (e.event !== 'step') events.push(e);
      opts.onEvent?.(e);
    });
    child.on('error', (cause) => reject(new CinesegError(ErrorCode.E_TRAIN_UNAVAILABLE, `cannot start ${py}: ${cause.message}`, { cause })));
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      log.end(() => {
        if (code === 0) resolveP({ events, interrupted: false });
        else if (code === 130) resolveP({ events, interrupted: true });
        else {
          const t = tail(opts.logFile);
          const noTorch = /No module named 'torch'/.test(t);
          reject(
            new CinesegError(
              noTorch ? ErrorCode.E_TRAIN_UNAVAILABLE : ErrorCode.E_TRAIN_FAILED,
              noTorch ? `${py} has no PyTorch (npm run setup installs python3-torch)` : `the trainer exited with ${code ?? sig}; see ${opts.logFile}:\n${t}`,
            ),
          );
        }
      });
    });
  });
}
