/**
 * A recorded session's output that also remembers the clip's latest `clipProgress` (hls-cache.ts
 * prepare): the session opens before a client is attached, and a client attached later (or
 * reconnected) still learns how far the clip's package is, or that it is ready.
 */
import type { ClipProgress } from '../protocol.js';
import { DetachableOutput, type SessionOutput } from './session-output.js';

export class ClipProgressOutput extends DetachableOutput {
  private last: ClipProgress | null = null;

  constructor() {
    super(null);
  }

  progress(p: ClipProgress): void {
    this.last = p;
    this.json(p);
  }

  override attach(target: SessionOutput | null): void {
    super.attach(target);
    if (target && this.last) target.json(this.last);
  }
}
