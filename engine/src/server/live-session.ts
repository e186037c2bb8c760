/**
 * A client's view of the live source: a LiveSession is one viewer of the shared LivePipeline
 * (server/live-pipeline.ts: the RxJS flow, the tracker, prompts, the grace period). It forwards
 * the viewer's requests to the pipeline and detaches from it on destroy.
 *
 * The pipeline, the RGB resize kernel (mask/rgb-resize.ts) and the wall clock (wall-clock.ts)
 * lived in this file; they are re-exported here for the modules that import them from it.
 */
import { PROTOCOL_VERSION, type AddBox, type AddMask, type AddPoints, type SessionStarted } from '../protocol.js';
import type { LivePipeline, LiveViewer, PromptApplied } from './live-pipeline.js';
import type { FrameAt } from './live-freezes.js';
import { DetachableOutput } from './session-output.js';

export { resizeRgb } from '../mask/rgb-resize.js';
export { LIVE_GRACE_MS, LIVE_STORE_INTERVAL_MS, LivePipeline, type LivePipelineOptions, type PromptApplied } from './live-pipeline.js';
export { wallMs } from './wall-clock.js';

export class LiveSession implements LiveViewer {
  readonly kind = 'live' as const;
  readonly output = new DetachableOutput(null);

  constructor(
    readonly sessionId: string,
    readonly handle: number,
    private readonly pipeline: LivePipeline,
  ) {}

  started(seq: number): SessionStarted {
    const p = this.pipeline;
    return {
      v: PROTOCOL_VERSION,
      type: 'sessionStarted',
      seq,
      sessionId: this.sessionId,
      handle: this.handle,
      kind: 'live',
      width: p.width,
      height: p.height,
      fps: p.fps,
      numFrames: null,
      framePtsUs: null,
      clip: null,
      recordId: p.recordId,
      ...(p.pixelSpacingMm ? { pixelSpacingMm: p.pixelSpacingMm } : {}),
      ...(p.opts.pictures ? { picturesStored: true } : {}),
    };
  }

  /** Freezes this viewer on a live frame (live-freezes.ts); resolves with the frame kept. */
  freeze(frame: number): Promise<FrameAt> {
    return this.pipeline.freeze(this.sessionId, frame);
  }

  /** Releases this viewer's frozen frame. */
  unfreeze(): Promise<void> {
    return this.pipeline.unfreeze(this.sessionId);
  }

  /**
   * Applies a prompt to the live frame it names (or the newest held one); resolves once its mask
   * is stored and sent, with the frame and the object id (the server's for `newObject`).
   */
  prompt(msg: AddPoints | AddBox | AddMask): Promise<PromptApplied> {
    return this.pipeline.prompt(this.sessionId, msg);
  }

  /** Removes the object from the tracker (for every client watching). */
  removeObject(objectId: number): Promise<void> {
    return this.pipeline.removeObject(objectId);
  }

  /** Names an object in the source's record. */
  renameObject(objectId: number, name: string): Promise<void> {
    return this.pipeline.renameObject(objectId, name);
  }

  async destroy(): Promise<void> {
    this.output.attach(null);
    await this.pipeline.unsubscribe(this);
  }
}
