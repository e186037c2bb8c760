/**
 * What a batch shows and leaves, tracked here or by queue workers alike: the summary rows and
 * table, the progress bars on a terminal (cli-progress), and each finished clip's exports under `--out`.
 */
import { join } from 'node:path';
import { MultiBar, type SingleBar } from 'cli-progress';
import type { AnnotationStore } from '../store/annotation-store.js';
import { exportMasks, type ExportFormat } from './export-command.js';

export type BatchStatus = 'done' | 'resumed' | 'skipped' | 'failed';

/** One line of the summary table. */
export interface BatchRow {
  clip: string;
  status: BatchStatus;
  sessionId: string | null;
  frames: number;
  objects: number;
  framesWritten: number;
  seconds: number;
  error?: string;
}

/** Writes a clip's session in each format under `<outDir>/<clip>/`. */
export async function exportBatchSession(store: AnnotationStore, sessionId: string, outDir: string, clip: string, formats: readonly ExportFormat[]): Promise<void> {
  for (const f of formats) {
    const out = f === 'png' ? join(outDir, clip, 'png') : join(outDir, clip, `masks.${f === 'vis' ? 'json' : f === 'coco' ? 'coco.json' : f === 'nifti' ? 'nii.gz' : 'seg.dcm'}`);
    await exportMasks({ source: sessionId, format: f, out, openStore: store });
  }
}

/** The summary table printed at the end of a batch. */
export function formatBatchTable(rows: readonly BatchRow[]): string {
  const head = ['clip', 'status', 'frames', 'objects', 'written', 'seconds', 'session / error'];
  const body = rows.map((r) => [r.clip, r.status, String(r.frames), String(r.objects), String(r.framesWritten), r.seconds.toFixed(1), r.error ?? r.sessionId ?? '']);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((x, c) => (c >= 2 && c <= 5 ? x.padStart(widths[c]!) : x.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  const counts = (['done', 'resumed', 'skipped', 'failed'] as const).map((s) => `${rows.filter((r) => r.status === s).length} ${s}`).join(', ');
  return [line(head), ...body.map(line), `${rows.length} clip(s): ${counts}`].join('\n');
}

export interface BatchProgress {
  clip(name: string, done: number, of: number): void;
  /** A clip ended; `name` clears its bar (without it, every bar is cleared: one clip at a time). */
  clipEnd(name?: string): void;
  end(): void;
}

/**
 * Overall and per-clip bars (a cli-progress MultiBar: one line for the clips, one per clip being
 * tracked) on stderr, only when it is a terminal.
 */
export function batchProgress(total: number, done = 0, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): BatchProgress {
  if (!stream.isTTY) return { clip: () => undefined, clipEnd: () => undefined, end: () => undefined };
  // hideCursor off: a batch killed mid-run must not leave the user's terminal without a cursor.
  const multi = new MultiBar({ stream, format: '{name} [{bar}] {value}/{total}', barCompleteChar: '#', barIncompleteChar: '.', hideCursor: false, fps: 10 });
  const overall = multi.create(total, done, { name: 'clips' }, { barsize: 20 });
  const bars = new Map<string, SingleBar>();
  return {
    clip(name, d, t) {
      const b = bars.get(name);
      if (!b) {
        bars.set(name, multi.create(t, d, { name }, { barsize: 12 }));
        return;
      }
      b.setTotal(t);
      b.update(d);
    },
    clipEnd(name) {
      overall.increment();
      for (const n of name === undefined ? [...bars.keys()] : [name]) {
        const b = bars.get(n);
        if (b) multi.remove(b);
        bars.delete(n);
      }
    },
    end() {
      multi.stop();
    },
  };
}
