/**
 * What a long run must not accumulate, read from Linux's /proc: resident memory after a full
 * garbage collection, open file descriptors, and child processes (ffmpeg above all). Used by the
 * soak bench and by the tests that check that faults and teardown leave nothing behind.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | null = null;

/**
 * A function that runs a full GC: `global.gc` under `node --expose-gc`, else the same function
 * obtained by turning the flag on at run time (a fresh context picks up `gc` once it is set).
 */
export function forceGc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  // Two passes: the first may only queue finalizers (native buffers) that the second frees.
  gcFn();
  gcFn();
}

/** Resident set size in bytes after a forced full GC, so growth is measured, not GC timing. */
export async function rssAfterGc(): Promise<number> {
  forceGc();
  // Let finalizers and weak callbacks scheduled by the GC run before reading.
  await new Promise((r) => setImmediate(r));
  forceGc();
  return process.memoryUsage.rss();
}

/** Open file descriptors of this process (entries of /proc/self/fd, minus the one readdir uses). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length - 1;
}

/** Open file descriptors by what they point at (`pipe:[..]`, `socket:[..]`, paths), for diagnosis. */
export function openFdKinds(): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory handle itself, closed by now
    }
    const kind = target.startsWith('/') ? 'file' : target.replace(/:.*$/, '');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

export interface ChildProcessInfo {
  pid: number;
  /** Executable name as the kernel has it (`comm`, at most 15 characters). */
  comm: string;
  /** Process state: R running, S sleeping, Z zombie (exited, not reaped), ... */
  state: string;
}

/**
 * Direct children of `parentPid` (default: this process), from /proc/<pid>/stat. A zombie (an
 * exited child nobody reaped) is listed too: it is as much a leftover as a running one.
 */
export function childProcesses(name?: string, parentPid = process.pid): ChildProcessInfo[] {
  const out: ChildProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (Number(ppid) !== parentPid) continue;
    if (name !== undefined && comm !== name) continue;
    out.push({ pid: Number(entry), comm, state: state ?? '?' });
  }
  return out;
}

/** Whether `pid` is an ffmpeg child of this process (what a fault test may kill). */
export function isOwnFfmpeg(pid: number): boolean {
  return childProcesses('ffmpeg').some((c) => c.pid === pid);
}
