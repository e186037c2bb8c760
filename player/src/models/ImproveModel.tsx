/**
 * "Improve the model": fine-tunes the server's model on the approved sessions as a background job
 * (POST /api/finetune, progress polled from GET /api/jobs/:id, cancel by DELETE), then offers the
 * models (GET /api/models) in a picker with the chosen one's validation table. Choosing a model
 * for the session on screen reopens it with that model (`onUseModel`).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { errorLine, fetchOrFail, httpError } from '../client-error.js';

export interface ModelRow {
  id: string;
  name: string;
  default: boolean;
  createdAt?: string;
  validation?: Record<string, unknown>;
  adaptation?: { base: string | null; sessions: string[]; steps: number | null };
}

export interface JobRow {
  jobId: string;
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  progress: number;
  step?: number;
  steps?: number;
  message?: string;
  code?: string;
  result?: { modelId: string; validation?: Record<string, unknown> };
}

export const POLL_MS = 1000;

/** A validation object as rows `path → value` (nested objects flattened with dots, arrays joined). */
export function validationRows(v: Record<string, unknown>, prefix = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, x] of Object.entries(v)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (x !== null && typeof x === 'object' && !Array.isArray(x)) out.push(...validationRows(x as Record<string, unknown>, key));
    // Per-clip rows (arrays of objects) are too wide for the panel: their count stands for them.
    else if (Array.isArray(x) && x.some((e) => e !== null && typeof e === 'object')) out.push([key, `${x.length} per-clip rows`]);
    else
      out.push([
        key,
        typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toFixed(4)) : Array.isArray(x) ? x.map((e) => (typeof e === 'number' ? e.toFixed(3) : String(e))).join(', ') : String(x),
      ]);
  }
  return out;
}

export interface ImproveModelProps {
  /** The model the session on screen runs on (null: none open, or the server's default). */
  sessionModel: string | null;
  /** Whether a recorded session is on screen (the picker is for it). */
  canUse: boolean;
  onUseModel(modelId: string): void;
}

export function ImproveModel(p: ImproveModelProps) {
  const [job, setJob] = useState<JobRow | null>(null);
  const [error, setError] = useState('');
  const [models, setModels] = useState<ModelRow[]>([]);
  const [picked, setPicked] = useState<string>('');
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const loadModels = useCallback(async (select?: string) => {
    try {
      const r = await fetch('/api/models');
      if (!r.ok) return;
      const list = ((await r.json()) as { models: ModelRow[] }).models;
      setModels(list);
      setPicked((cur) => select ?? (cur || (list.find((m) => m.default)?.id ?? list[0]?.id ?? '')));
    } catch {
      /* the picker stays as it was */
    }
  }, []);
  useEffect(() => {
    void loadModels();
    return () => {
      if (timer.current) clearTimeout(timer.current);
    };
  }, [loadModels]);
  useEffect(() => {
    if (p.sessionModel) setPicked(p.sessionModel);
  }, [p.sessionModel]);

  const poll = useCallback(
    (id: string) => {
      const tick = async () => {
        try {
          const r = await fetchOrFail(`/api/jobs/${encodeURIComponent(id)}`);
          if (!r.ok) throw await httpError(r, 'GET /api/jobs');
          const j = (await r.json()) as JobRow;
          setJob(j);
          if (j.state === 'done') {
            void loadModels(j.result?.modelId);
            return;
          }
          if (j.state === 'failed' || j.state === 'cancelled') return;
        } catch (e) {
          setError(errorLine(e));
          return;
        }
        timer.current = setTimeout(() => void tick(), POLL_MS);
      };
      void tick();
    },
    [loadModels],
  );

  const start = async () => {
    setError('');
    try {
      const r = await fetchOrFail('/api/finetune', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      if (!r.ok) throw await httpError(r, 'POST /api/finetune');
      const { jobId } = (await r.json()) as { jobId: string };
      setJob({ jobId, state: 'queued', progress: 0 });
      poll(jobId);
    } catch (e) {
      setError(errorLine(e));
    }
  };
  const cancel = () => {
    if (job) void fetch(`/api/jobs/${encodeURIComponent(job.jobId)}`, { method: 'DELETE' }).catch(() => undefined);
  };

  const running = job !== null && (job.state === 'queued' || job.state === 'running');
  const model = models.find((m) => m.id === picked);
  return (
    <div className="improve" data-testid="improve">
      <div className="panel-title">
        Model{' '}
        <button data-testid="finetune" disabled={running} onClick={() => void start()} title="fine-tune on the approved sessions">
          Improve the model
        </button>
      </div>
      {job && (
        <div data-testid="job" data-state={job.state}>
          <progress max={1} value={job.progress} />
          <small>
            {job.state}
            {job.steps ? ` · step ${job.step ?? 0}/${job.steps}` : ''} · {Math.round(job.progress * 100)} %{job.message ? ` · ${job.message}` : ''}
            {job.code ? ` (${job.code})` : ''}
          </small>
          {running && <button onClick={cancel}>Cancel</button>}
        </div>
      )}
      {error && (
        <div className="status" data-testid="finetune-error">
          {error}
        </div>
      )}
      {models.length > 0 && (
        <>
          <label>
            model{' '}
            <select value={picked} aria-label="model" onChange={(e) => setPicked(e.target.value)}>
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.default ? `${m.name} (server default)` : `${m.id} · ${m.name}`}
                </option>
              ))}
            </select>
          </label>
          <button data-testid="use-model" disabled={!p.canUse || !picked || picked === (p.sessionModel ?? models.find((m) => m.default)?.id)} onClick={() => p.onUseModel(picked)}>
            Use for this session
          </button>
          {model?.validation && (
            <table data-testid="validation">
              <tbody>
                {validationRows(model.validation).map(([k, v]) => (
                  <tr key={k}>
                    <th>{k}</th>
                    <td>{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {model?.adaptation && (
            <small>
              learned from {model.adaptation.sessions.length} session(s){model.adaptation.steps ? `, ${model.adaptation.steps} steps` : ''}
            </small>
          )}
        </>
      )}
    </div>
  );
}
