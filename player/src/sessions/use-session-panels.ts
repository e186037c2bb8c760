/**
 * The sessions panel's actions (close, approve, unapprove, delete over HTTP) and the header's
 * clip-progress words, for App to wire: each action reloads the list and reports failures in
 * the status line.
 */
import { useCallback, useState } from 'react';
import type { ServerMessage } from '../../../engine/src/protocol.js';
import { clipProgressText } from './clip-progress.js';
import { sessionApi } from './session-api.js';
import type { SessionAction } from './SessionList.js';
import { errorLine } from '../client-error.js';

/**
 * `closedHere(id, action)`: a close or an approval went through (the server closes a session it
 * holds before approving it), so a page showing that session must let it go.
 */
export function useSessionPanels(loadSessions: () => void, setStatus: (s: string) => void, closedHere: (id: string, action: SessionAction) => void) {
  const [clipProgress, setClipProgress] = useState('');
  const onAction = useCallback(
    (id: string, action: SessionAction) => {
      const run = action === 'delete' ? sessionApi.remove : sessionApi[action];
      run(id)
        .then(() => (action === 'close' || action === 'approve') && closedHere(id, action))
        .catch((e: unknown) => setStatus(errorLine(e)))
        .finally(loadSessions);
    },
    [loadSessions, setStatus, closedHere],
  );
  /** A server message for the header; true when it was one (clipProgress of `sessionId`). */
  const onMessage = useCallback((m: ServerMessage, sessionId: string | null): boolean => {
    if (m.type !== 'clipProgress') return false;
    if (m.sessionId === sessionId) setClipProgress(clipProgressText(m));
    return true;
  }, []);
  return { clipProgress, setClipProgress, onAction, onMessage };
}
