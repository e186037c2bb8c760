/**
 * What the queue tests share: short clips cut from the synthetic samples (samples layout: a folder
 * per clip with clip.mp4 and the sample's prompts.json), and `cineseg worker` child processes
 * (the built CLI, as a user runs it) whose output lines can be waited for.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED_DIR } from '../../global-setup.js';
import { testBundleDir } from '../model/test-bundle.js';
import { CLI } from '../cli/track-helpers.js';

/** Cuts the first `frames` frames of a sample into `<dir>/<name>/clip.mp4`, with the sample's prompts and masks. */
export function shortClip(dir: string, name: string, sample: string, frames: number): string {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  const src = join(GENERATED_DIR, sample);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', join(src, 'clip.mp4'), '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', join(out, 'clip.mp4')]);
  for (const f of readdirSync(src)) if (f === 'prompts.json' || f.endsWith('.png')) copyFileSync(join(src, f), join(out, f));
  return out;
}

export interface WorkerChild {
  name: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first output line (stdout or stderr) matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `cineseg worker` on the queue and store, and waits until it takes jobs. */
export async function startWorker(name: string, queue: string, store: string, extra: string[] = []): Promise<WorkerChild> {
  const args = [CLI, 'worker', '--queue', queue, '--store', store, '--name', name, '--model', testBundleDir(), '--ep', 'cpu', '--threads', '1', ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CINESEG_MODEL: '' } });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const scan = () => {
    for (const w of [...waiters]) {
      const m = w.re.exec(`${out}\n${err}`);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    scan();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    scan();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const w: WorkerChild = {
    name,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`worker ${name}: no ${re} within ${timeoutMs} ms\nstdout:\n${out.slice(-2000)}\nstderr:\n${err.slice(-2000)}`)), timeoutMs);
        void exited.then(({ code, signal }) => {
          clearTimeout(t);
          reject(new Error(`worker ${name} exited (${code ?? signal}) before ${re}\n${err.slice(-2000)}`));
        });
        waiters.push({
          re,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
        scan();
      });
    },
  };
  await w.waitFor(/taking jobs from/);
  return w;
}

/** Stops a worker child: SIGTERM, then SIGKILL if it is still there after `ms`. */
export async function stopWorker(w: WorkerChild, ms = 15_000): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill('SIGTERM');
  const t = setTimeout(() => w.child.kill('SIGKILL'), ms);
  await w.exited;
  clearTimeout(t);
}

/** The `ack <job> <clip> <object> <frame> <mask id>` lines a worker printed (--print-acks). */
export function acksOf(stdout: string): { job: string; clip: string; objectId: number; frame: number; maskId: number }[] {
  return [...stdout.matchAll(/^ack (\S+) (\S+) (\d+) (\d+) (\d+)$/gm)].map((m) => ({ job: m[1]!, clip: m[2]!, objectId: Number(m[3]), frame: Number(m[4]), maskId: Number(m[5]) }));
}
