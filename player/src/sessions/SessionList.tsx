/**
 * Stored sessions (GET /api/sessions), newest first: status (open / closed / done = approved),
 * who made it and when, who approved it, object / mask / prompt counts and the model it ran on;
 * open or reopen, close, approve or unapprove, delete (after a confirm). Sessions that cannot be
 * reopened here (live records, batch runs, clips outside this server's media) are listed without
 * the button, so the list says what the store holds.
 */

/** One row of GET /api/sessions (engine/src/server/session-routes.ts). */
export interface StoredSessionRow {
  id: string;
  kind: 'recorded' | 'live';
  clip: string | null;
  clipName: string;
  status: 'open' | 'closed' | 'done';
  /** Its live objects (a count in older servers). */
  objects: number | { objectId: number; label: string }[];
  maskedFrames: number;
  numFrames: number;
  updatedAt: string;
  createdAt?: string;
  reopenable: boolean;
  maskCount?: number;
  promptCount?: number;
  model?: string;
  createdBy?: string;
  approvedAt?: string;
  approvedBy?: string;
}

export type SessionAction = 'close' | 'approve' | 'unapprove' | 'delete';

export interface SessionListProps {
  sessions: readonly StoredSessionRow[];
  /** The session on screen (not offered again). */
  current: string | null;
  onReopen(id: string): void;
  /** Delete is asked only after the user confirmed. */
  onAction(id: string, action: SessionAction): void;
}

/** How long ago, in the coarsest unit that fits. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** "2 objects (polyp, instrument)" from either row form. */
function objectsText(o: StoredSessionRow['objects']): string {
  if (typeof o === 'number') return plural(o, 'object');
  const labels = [...new Set(o.map((x) => x.label).filter((l) => l && l !== 'object'))];
  return `${plural(o.length, 'object')}${labels.length ? ` (${labels.join(', ')})` : ''}`;
}

export function SessionList(p: SessionListProps) {
  if (p.sessions.length === 0) return null;
  return (
    <div className="sessions" data-testid="sessions">
      <div className="panel-title">Stored sessions</div>
      <ul>
        {p.sessions.map((s) => {
          const here = s.id === p.current;
          const approved = s.status === 'done' && !!s.approvedAt;
          return (
            <li key={s.id} data-session={s.id} data-status={s.status} className={here ? 'selected' : ''}>
              <span className="session-name">
                {s.clipName}{' '}
                <span className={`badge ${s.status}`} data-testid="session-status">
                  {approved ? 'approved' : s.status}
                </span>
              </span>
              <small title={s.id}>
                {objectsText(s.objects)} · {s.maskCount ?? s.maskedFrames} masks{s.promptCount === undefined ? '' : ` · ${plural(s.promptCount, 'prompt')}`} · {s.maskedFrames}/{s.numFrames} frames
              </small>
              <small>
                {s.createdBy ? `by ${s.createdBy} · ` : ''}
                {ago(s.updatedAt)}
                {s.model && s.model !== 'default' ? ` · model ${s.model}` : ''}
              </small>
              {approved && (
                <small data-testid="approved-by">
                  approved{s.approvedBy ? ` by ${s.approvedBy}` : ''} {ago(s.approvedAt!)}
                </small>
              )}
              <span className="session-actions">
                {s.reopenable && (!here || s.status !== 'open') && (
                  <button data-testid="reopen" onClick={() => p.onReopen(s.id)}>
                    {s.status === 'open' ? 'Open' : 'Reopen'}
                  </button>
                )}
                {s.status === 'open' && !here && (
                  <button data-testid="close-session" title="close (stop its propagation, free it for others)" onClick={() => p.onAction(s.id, 'close')}>
                    Close
                  </button>
                )}
                {s.kind === 'recorded' && !approved && (
                  <button data-testid="approve" title="these masks are right: approved sessions train “Improve the model”" onClick={() => p.onAction(s.id, 'approve')}>
                    Approve
                  </button>
                )}
                {approved && (
                  <button data-testid="unapprove" onClick={() => p.onAction(s.id, 'unapprove')}>
                    Unapprove
                  </button>
                )}
                {s.status !== 'open' && !here && (
                  <button data-testid="delete-session" title="delete" onClick={() => window.confirm('Delete this session with all its masks?') && p.onAction(s.id, 'delete')}>
                    ✕
                  </button>
                )}
              </span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
