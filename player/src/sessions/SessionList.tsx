/**
 * Stored sessions (GET /api/sessions), newest first: reopen one to get back its objects, prompts
 * and masks — also after the server was restarted or killed — or delete it. Sessions that cannot
 * be reopened here (live records, batch runs, clips outside this server's media) are listed
 * without the button, so the list says what the store holds.
 */

/** One row of GET /api/sessions (engine/src/server/session-restore.ts StoredSessionInfo). */
export interface StoredSessionRow {
  id: string;
  kind: 'recorded' | 'live';
  clip: string | null;
  clipName: string;
  status: 'open' | 'closed' | 'done';
  objects: number;
  maskedFrames: number;
  numFrames: number;
  updatedAt: string;
  reopenable: boolean;
}

export interface SessionListProps {
  sessions: readonly StoredSessionRow[];
  /** The session on screen (not offered again). */
  current: string | null;
  onReopen(id: string): void;
  onDelete(id: string): void;
}

/** How long ago, in the coarsest unit that fits. */
function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function SessionList(p: SessionListProps) {
  if (p.sessions.length === 0) return null;
  return (
    <div className="sessions">
      <div className="panel-title">Stored sessions</div>
      <ul>
        {p.sessions.map((s) => (
          <li key={s.id} data-session={s.id} className={s.id === p.current ? 'selected' : ''}>
            <span className="session-name">{s.clipName}</span>
            <small>
              {s.objects} object{s.objects === 1 ? '' : 's'} · {s.maskedFrames}/{s.numFrames} frames · {s.status} · {ago(s.updatedAt)}
            </small>
            <span className="session-actions">
              {s.reopenable && s.id !== p.current && (
                <button data-testid="reopen" onClick={() => p.onReopen(s.id)}>
                  Reopen
                </button>
              )}
              {s.status !== 'open' && s.id !== p.current && (
                <button data-testid="delete-session" title="delete" onClick={() => window.confirm('Delete this session with all its masks?') && p.onDelete(s.id)}>
                  ✕
                </button>
              )}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}
