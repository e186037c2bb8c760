/**
 * What a session's edit history is made of ({@link Edit}) and where it is kept ({@link EditLog}),
 * apart from prompt-history.ts, which runs the history, so that annotation-sink.ts can name an
 * EditLog without importing the code that uses the sink (that was an import cycle).
 */
/** One edit of a session's history (payloads as stored, JSON). */
export type Edit =
  | { kind: 'add'; promptIds: number[] }
  | { kind: 'remove'; promptIds: number[] }
  | { kind: 'rename'; objectId: number; before: string; after: string }
  /** `mark`: what the sink needs to undo the removal (AnnotationSink.removalMark), as read before it. */
  | { kind: 'removeObject'; objectId: number; promptIds: number[]; label: string; mark: unknown };

/** Where a session's edits are kept, with the prompts taken back. */
export interface EditLog {
  /** Stores a new edit; drops the redo branch. */
  push(sessionId: string, edit: Edit): Promise<void>;
  /** The edit an undo takes back / a redo does again, or null. */
  peek(sessionId: string, which: 'undo' | 'redo'): Promise<{ id: number; edit: Edit } | null>;
  /** After an undo (`undone`) or a redo: the edit crosses the cursor. */
  mark(sessionId: string, id: number, undone: boolean): Promise<void>;
  state(sessionId: string): Promise<{ canUndo: boolean; canRedo: boolean }>;
  /** Prompts taken back (`removed`) or in effect again. */
  setPromptsRemoved(sessionId: string, promptIds: readonly number[], removed: boolean): Promise<void>;
}
