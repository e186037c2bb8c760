/**
 * What a batch shows and leaves, tracked here or by queue workers alike: the summary rows and
 * table, the progress line on a terminal, and each finished clip's exports under `--out`.
 */
import { join } from 'node:path';
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

/** Overall and per-clip progress on one terminal line (stderr, TTY only). */
export function batchProgress(total: number, done = 0): BatchProgress {
  if (!process.stderr.isTTY) return { clip: () => undefined, clipEnd: () => undefined, end: () => undefined };
  const active = new Map<string, [number, number]>();
  let finished = done;
  let last = 0;
  const bar = (d: number, t: number, w: number) => {
    const f = Math.round((w * d) / Math.max(1, t));
    return `[${'#'.repeat(f)}${'.'.repeat(w - f)}]`;
  };
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const parts = [...active].map(([n, [d, t]]) => `${n} ${bar(d, t, 12)} ${d}/${t}`);
    const line = `clips ${bar(finished, total, 20)} ${finished}/${total}  ${parts.join('  ')}`;
    // A pseudo-terminal can report 0 columns: treat that as unknown.
    const cols = process.stderr.columns || 120;
    process.stderr.write(`\r\x1b[2K${line.slice(0, cols - 1)}`);
  };
  return {
    clip(name, d, t) {
      active.set(name, [d, t]);
      draw();
    },
    clipEnd(name) {
      finished++;
      if (name === undefined) active.clear();
      else active.delete(name);
      draw(true);
    },
    end() {
      process.stderr.write('\n');
    },
  };
}
