/**
 * Export from the page: any format the CLI writes (VIS JSON, COCO JSON, PNG masks, NIfTI,
 * DICOM SEG), all objects or the chosen ones, all frames or a range; the browser downloads
 * GET /api/sessions/:id/export (engine/src/server/export-routes.ts) as a file.
 */
import { useState } from 'react';
import { exportUrl } from '../sessions/session-api.js';

export const EXPORT_FORMATS = [
  { id: 'vis', label: 'VIS JSON (YouTube-VIS style)' },
  { id: 'coco', label: 'COCO JSON (one image per frame)' },
  { id: 'png', label: 'PNG masks (zip, one index image per frame)' },
  { id: 'nifti', label: 'NIfTI label volume (.nii.gz)' },
  { id: 'dicom-seg', label: 'DICOM SEG' },
] as const;

export interface ExportDialogProps {
  sessionId: string;
  objects: readonly { id: number; name: string }[];
  numFrames: number;
  current: number;
  onClose(): void;
}

/** Starts a download of `url` (an <a download>: the server's Content-Disposition names the file). */
export function download(url: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = '';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function ExportDialog(p: ExportDialogProps) {
  const [format, setFormat] = useState<string>('coco');
  const [allObjects, setAllObjects] = useState(true);
  const [chosen, setChosen] = useState<Set<number>>(() => new Set(p.objects.map((o) => o.id)));
  const [allFrames, setAllFrames] = useState(true);
  const last = Math.max(0, p.numFrames - 1);
  const [from, setFrom] = useState(0);
  const [to, setTo] = useState(last);
  const num = (v: string) => Math.min(last, Math.max(0, Math.round(Number(v) || 0)));
  const objects = allObjects ? null : [...chosen].sort((a, b) => a - b);
  const frames: [number, number] | null = allFrames ? null : [Math.min(from, to), Math.max(from, to)];
  const url = exportUrl(p.sessionId, format, objects, frames);
  const nothing = objects !== null && objects.length === 0;
  return (
    <div className="modal-backdrop" onClick={p.onClose}>
      <div className="modal" role="dialog" aria-label="export" data-testid="export-dialog" onClick={(e) => e.stopPropagation()}>
        <div className="panel-title">Export session {p.sessionId}</div>
        <label>
          format
          <select value={format} onChange={(e) => setFormat(e.target.value)} aria-label="export format">
            {EXPORT_FORMATS.map((f) => (
              <option key={f.id} value={f.id}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>objects</legend>
          <label>
            <input type="radio" name="export-objects" checked={allObjects} onChange={() => setAllObjects(true)} /> all objects
          </label>
          <label>
            <input type="radio" name="export-objects" checked={!allObjects} onChange={() => setAllObjects(false)} aria-label="chosen objects" /> chosen:
          </label>
          {!allObjects &&
            p.objects.map((o) => (
              <label key={o.id} style={{ marginLeft: 20 }}>
                <input
                  type="checkbox"
                  data-export-object={o.id}
                  checked={chosen.has(o.id)}
                  onChange={(e) =>
                    setChosen((s) => {
                      const n = new Set(s);
                      if (e.target.checked) n.add(o.id);
                      else n.delete(o.id);
                      return n;
                    })
                  }
                />
                {o.name}
              </label>
            ))}
        </fieldset>
        <fieldset>
          <legend>frames</legend>
          <label>
            <input type="radio" name="export-frames" checked={allFrames} onChange={() => setAllFrames(true)} /> all {p.numFrames} frames
          </label>
          <label>
            <input type="radio" name="export-frames" checked={!allFrames} onChange={() => setAllFrames(false)} aria-label="frame range" /> frames
            <input type="number" min={0} max={last} value={from} aria-label="export from" disabled={allFrames} onChange={(e) => setFrom(num(e.target.value))} />
            to
            <input type="number" min={0} max={last} value={to} aria-label="export to" disabled={allFrames} onChange={(e) => setTo(num(e.target.value))} />
          </label>
        </fieldset>
        <small className="session-id">{url}</small>
        <div className="actions">
          <button onClick={p.onClose}>Cancel</button>
          <button
            data-testid="export-download"
            disabled={nothing}
            onClick={() => {
              download(url);
              p.onClose();
            }}
          >
            Download
          </button>
        </div>
      </div>
    </div>
  );
}
