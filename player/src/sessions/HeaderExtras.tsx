/** The header's right side: clip progress (hashing / packaging), overlay-off badge, the session id, Export… and `?`. */
export interface HeaderExtrasProps {
  clipProgress: string;
  overlayOn: boolean;
  sessionId: string | null;
  canExport: boolean;
  onExport(): void;
  onHelp(): void;
}

export function HeaderExtras(p: HeaderExtrasProps) {
  return (
    <span className="header-extra">
      {p.clipProgress && (
        <span className="clip-progress" data-testid="clip-progress">
          {p.clipProgress}
        </span>
      )}
      {!p.overlayOn && <span className="badge">overlay off (o)</span>}
      {p.sessionId && (
        <span className="session-id" data-testid="session-id" title="session id (cineseg export <id>)">
          session {p.sessionId}
        </span>
      )}
      {p.canExport && (
        <button data-testid="open-export" onClick={p.onExport}>
          Export…
        </button>
      )}
      <button data-testid="open-help" title="keyboard shortcuts (?)" onClick={p.onHelp}>
        ?
      </button>
    </span>
  );
}
