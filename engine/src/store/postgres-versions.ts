/**
 * The optimistic-versioning check of the PostgreSQL store (annotation-store.ts): a write names the
 * versions it read; any touched object whose stored version differs is E_EDIT_CONFLICT and the
 * write's transaction rolls back. The stored versions are read under the session's row lock
 * (every write locks its session first), so no other writer can change them in between.
 */
import { CinesegError, ErrorCode } from '../errors.js';

/**
 * Throws E_EDIT_CONFLICT when an object of `stored` (id → version before this write; 0 for an
 * object not there yet) differs from what `ifVersions` names. Objects not named are not checked.
 */
export function checkVersions(sessionId: string, stored: ReadonlyMap<number, number>, ifVersions: Readonly<Record<number, number>> | undefined): void {
  if (!ifVersions) return;
  for (const [objectId, version] of stored) {
    const expected = ifVersions[objectId];
    if (expected === undefined || expected === version) continue;
    throw new CinesegError(
      ErrorCode.E_EDIT_CONFLICT,
      `session "${sessionId}" object ${objectId} was changed by another editor: stored version ${version}, this edit expected ${expected}; nothing was written`,
      { details: { sessionId, objectId, stored: version, expected } },
    );
  }
}
