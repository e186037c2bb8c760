/**
 * `cineseg export <session-id|masks.json> --format vis|coco|png|nifti|dicom-seg --out … [--object 1,3] [--frames 10-40]`: writes a
 * stored session (or a `cineseg track` result) in a standard format (export/export-session.ts);
 * `cineseg export --list [--json]` lists the stored sessions (`storedSessionList`). `--store` is a
 * SQLite file or a postgres:// URL, so both work from any machine that reaches the database; what
 * the clip file is still needed for is said in export/export-session.ts.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { checkOutputPath } from './output-path.js';
import { STORE_SPEC_HELP, withStoreReadonly } from './store-option.js';
import { CinesegError, ErrorCode } from '../errors.js';
import { EXPORT_FORMATS, exportMasks, type ExportFormat } from '../export/export-session.js';
import { parseFrameRange, parseObjectList } from '../export/filter.js';
import type { SessionSummary } from '../store/annotation-store.js';
import { defaultStoreSpec } from '../store/open-store.js';
import { isApproved } from '../store/session-review.js';

// Where they were before export-session.ts held them (batch-command, index.ts).
export { EXPORT_FORMATS, exportMasks, type ExportFormat, type ExportMasksOptions, type ExportMasksResult } from '../export/export-session.js';

/** One stored session as `cineseg export --list` shows it (`--json`: an array of these). */
export interface StoredSessionRow {
  id: string;
  status: SessionSummary['status'];
  /** The clip's path as stored (on the machine that registered it). */
  clip: string;
  objects: number;
  /** Frames with at least one current mask, of `numFrames`. */
  maskedFrames: number;
  numFrames: number;
  createdAt: string;
  updatedAt: string;
  /** Who made it: the server's user (meta `createdBy`), `batch:<out folder>` or `worker:<id>` for batch sessions, else null. */
  createdBy: string | null;
  approvedBy: string | null;
  approvedAt: string | null;
  /** The model it ran on (meta `model`), when recorded. */
  model: string | null;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function rowOf(s: SessionSummary): StoredSessionRow {
  const m = s.meta;
  const approved = isApproved(s);
  const worker = str(m.worker);
  const batch = str(m.batch);
  return {
    id: s.id,
    status: s.status,
    clip: s.clipPath,
    objects: s.objects,
    maskedFrames: s.maskedFrames,
    numFrames: s.numFrames,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    createdBy: str(m.createdBy) ?? (worker ? `worker:${worker}` : batch ? `batch:${basename(batch)}` : null),
    approvedBy: approved ? (str(m.approvedBy) ?? 'unknown') : null,
    approvedAt: approved ? (m.approvedAt as string) : null,
    model: str(m.model),
  };
}

/** The stored sessions of a store (a path or a postgres:// URL), newest first. */
export async function storedSessionList(spec: string = defaultStoreSpec()): Promise<StoredSessionRow[]> {
  return withStoreReadonly(
    spec,
    (at) => `no store at ${at} (use --store)`,
    async (store) => (await store.sessionSummaries()).map(rowOf),
  );
}

/** The `--list` table: one line per session, newest first; `who` is its maker, then its approver. */
export function formatSessionList(rows: readonly StoredSessionRow[]): string {
  const who = (r: StoredSessionRow) => [r.createdBy ?? '-', ...(r.approvedBy ? [`approved by ${r.approvedBy}`] : [])].join(', ');
  const cells = rows.map((r) => [r.id, r.status, `${r.maskedFrames}/${r.numFrames}`, String(r.objects), r.updatedAt, who(r), basename(r.clip)]);
  const head = ['session', 'status', 'frames', 'objects', 'updated', 'who', 'clip'];
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c]!.length)));
  return [head, ...cells]
    .map((r) =>
      r
        .map((x, c) => x.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export a stored session or a masks.json as YouTube-VIS, COCO, PNG masks, NIfTI or DICOM SEG')
    .argument('[session]', 'session id in the store, or a YouTube-VIS masks.json (cineseg track output)')
    .option('--format <format>', `one of ${EXPORT_FORMATS.join(', ')}`)
    .option('--out <path>', 'output file (folder for png)')
    .option('--list', 'list the sessions in the store instead (id, status, frames with masks, objects, updated, who, clip)')
    .option('--json', '--list: one JSON array of sessions instead of the table')
    .option('--store <file|url>', `session store: ${STORE_SPEC_HELP}`)
    .option('--source-dicom <file>', 'dicom-seg: the source DICOM the masks were made on (a stored DICOM clip finds its own when its path is on this machine)')
    .option('--iscrowd <0|1>', 'coco: iscrowd of every annotation (default 1, as COCO pairs RLE with crowd)')
    .option('--object <ids>', 'only these objects, ids separated by commas (e.g. 1,3)')
    .option('--frames <a-b>', 'only masks of frames a to b (0-based, both included); png and coco write only those frames')
    .action(
      async (
        session: string | undefined,
        o: { format?: string; out?: string; store?: string; sourceDicom?: string; iscrowd?: string; list?: boolean; json?: boolean; object?: string; frames?: string },
      ) => {
        if (o.list) {
          const rows = await storedSessionList(o.store ?? defaultStoreSpec());
          process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatSessionList(rows)}\n`);
          return;
        }
        if (!session || !o.format || !o.out) throw new CinesegError(ErrorCode.E_USAGE, 'give a session id (or masks.json), --format and --out; or --list');
        if (o.iscrowd !== undefined && o.iscrowd !== '0' && o.iscrowd !== '1') throw new CinesegError(ErrorCode.E_USAGE, '--iscrowd must be 0 or 1');
        checkOutputPath(o.out, '--out', o.format === 'png');
        const r = await exportMasks({
          source: session,
          format: o.format as ExportFormat,
          out: o.out,
          ...(o.store ? { store: o.store } : {}),
          ...(o.sourceDicom ? { sourceDicom: o.sourceDicom } : {}),
          ...(o.iscrowd === undefined ? {} : { iscrowd: Number(o.iscrowd) as 0 | 1 }),
          ...(o.object === undefined ? {} : { objects: parseObjectList(o.object) }),
          ...(o.frames === undefined ? {} : { frames: parseFrameRange(o.frames) }),
        });
        process.stdout.write(`exported ${r.objects} object(s), ${r.masks} mask(s) over ${r.frames} frames as ${r.format}: ${r.out}\n`);
      },
    );
}
