/**
 * What a session writes to: the client's socket while it is connected. A session outlives its
 * client (a propagation a user started finishes and is stored even when the tab closes), so the
 * target can be detached; messages sent without a client are dropped.
 *
 * Backpressure: a producer that must not outrun its viewer (recorded propagation) awaits
 * `drained()` after each frame's masks. A detached output is always drained: the work of a
 * departed client goes on at the model's pace and is stored.
 */
import type { ServerMessage } from '../protocol.js';

export interface SessionOutput {
  json(msg: ServerMessage): void;
  binary(data: Uint8Array): void;
  /** Resolves once the viewer has taken enough of what was sent to be sent more (absent: at once). */
  drained?(): Promise<void>;
}

export class DetachableOutput implements SessionOutput {
  constructor(private target: SessionOutput | null) {}

  attach(target: SessionOutput | null): void {
    this.target = target;
  }

  get attached(): boolean {
    return this.target !== null;
  }

  json(msg: ServerMessage): void {
    this.target?.json(msg);
  }

  binary(data: Uint8Array): void {
    this.target?.binary(data);
  }

  drained(): Promise<void> {
    return this.target?.drained?.() ?? Promise.resolve();
  }
}

/**
 * `out` with `then` sent right after the first JSON message through it: a reopened or resumed
 * recorded session's `prompts` message follows its sessionStarted, ahead of the stored masks.
 */
export function afterReply(out: SessionOutput, then: ServerMessage): SessionOutput {
  let sent = false;
  return {
    json: (msg) => {
      out.json(msg);
      if (!sent) {
        sent = true;
        out.json(then);
      }
    },
    binary: (d) => out.binary(d),
    drained: () => out.drained?.() ?? Promise.resolve(),
  };
}
