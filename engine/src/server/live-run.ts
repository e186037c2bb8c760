/**
 * One run of the live source, from its first viewer to the end of the grace after its last one:
 * its source, record, tracker, held frames, queued operations and notices, and what the pipeline's
 * parts (live-pipeline.ts, live-frame-work.ts, live-ops.ts) share about it.
 */
import { performance } from 'node:perf_hooks';
import { Subject } from 'rxjs';
import type { Frame } from '../decode/frame-decoder.js';
import type { LiveSource } from '../decode/live-source.js';
import type { CinesegError } from '../errors.js';
import { logitsToRle } from '../mask/logits-rle.js';
import { PROTOCOL_VERSION, type AddBox, type AddMask, type AddPoints, type ServerMessage } from '../protocol.js';
import type { FrameOutput } from '../track/object-state.js';
import type { StreamPrompt, StreamTracker } from '../track/stream-tracker.js';
import type { SinkMask } from './annotation-sink.js';
import type { JpegEncoder } from './jpeg-encoder.js';
import { LiveFreezes, type FrameAt } from './live-freezes.js';
import type { LiveRecord } from './live-record.js';
import type { DetachableOutput } from './session-output.js';

/** A frame failure identical to the last one reported is told again only after this long. */
const REPEAT_ERROR_MS = 10_000;

/** Where a prompt was applied: the live frame's index and PTS, and the object (server-assigned for `newObject`). */
export interface PromptApplied {
  frame: number;
  ptsUs: number;
  objectId: number;
}

/** What the pipeline needs of a viewer (LiveSession). */
export interface LiveViewer {
  readonly sessionId: string;
  readonly handle: number;
  readonly output: DetachableOutput;
}

/** What one run emits; each viewer's subscription turns it into its own messages. */
export type LiveEvent =
  | { kind: 'picture'; frame: number; jpeg: Uint8Array }
  | { kind: 'masks'; masks: SinkMask[] }
  | { kind: 'frame'; frame: Frame; sourceMs: number; drops: number; objects: number; serverUs: number; jpeg: Uint8Array }
  | { kind: 'json'; msg: (v: LiveViewer) => ServerMessage };

/** A viewer's request, queued until the tracker is between two frames (live-ops.ts runs them). */
export type LiveOp =
  | { kind: 'prompt'; sessionId: string; msg: AddPoints | AddBox | AddMask; prompt: StreamPrompt; resolve: (a: PromptApplied) => void; reject: (e: unknown) => void }
  | { kind: 'remove'; objectId: number; resolve: () => void; reject: (e: unknown) => void }
  | { kind: 'freeze'; sessionId: string; frame: number; resolve: (a: FrameAt) => void; reject: (e: unknown) => void }
  | { kind: 'unfreeze'; sessionId: string; resolve: () => void; reject: (e: unknown) => void };

/** The pipeline's running totals (its public fields), counted by the run's parts. */
export interface LiveCounters {
  framesIn: number;
  framesSent: number;
  drops: number;
  trackMs: number;
  /** Frames whose tracking or encoding failed (they went out as pictures only). */
  frameFailures: number;
}

export interface LiveRunOptions {
  source: LiveSource;
  record: LiveRecord;
  /** The source's frame rate (stored with the record). */
  fps: number;
  /** The model's low-res mask side (masks are upsampled from it to the video's size). */
  lowResMaskSize: number;
  counters: LiveCounters;
  log?: (line: string) => void;
}

export class LiveRun {
  readonly source: LiveSource;
  readonly record: LiveRecord;
  readonly fps: number;
  /** The video's size, known from the first frame (0 before it). */
  width = 0;
  height = 0;
  tracker: StreamTracker | null = null;
  jpeg: JpegEncoder | null = null;
  /** Tracked frames a prompt can still be applied to, oldest first. */
  held: FrameAt[] = [];
  ops: LiveOp[] = [];
  readonly notices = new Subject<LiveEvent>();
  /** Resolves with the first frame (the size is known), rejects when the run ends before it. */
  readonly firstFrame: Promise<void>;
  nextObjectId = 1;
  /** Viewers' frozen frames (live-freezes.ts). */
  readonly freezes = new LiveFreezes();
  closed = false;
  /** Drops the source's decoder had counted when last reported to the metrics. */
  decoderDropsSeen = 0;
  private gotFirst!: () => void;
  private failFirst!: (e: unknown) => void;
  private lastFailure: { key: string; at: number } | null = null;

  constructor(private readonly opts: LiveRunOptions) {
    this.source = opts.source;
    this.record = opts.record;
    this.fps = opts.fps;
    this.firstFrame = new Promise<void>((res, rej) => {
      this.gotFirst = res;
      this.failFirst = rej;
    });
    this.firstFrame.catch(() => undefined);
  }

  /** Counts a frame in; the first one gives the run its size. */
  arrived(frame: Frame): void {
    this.opts.counters.framesIn++;
    if (this.width === 0) {
      this.width = frame.width;
      this.height = frame.height;
      this.gotFirst();
    }
  }

  /** The run ended (or its source failed) before a first frame: subscribers waiting for it get `e`. */
  failedFirst(e: unknown): void {
    this.failFirst(e);
  }

  /** A tracker output as a mask for the store and the viewers, at the video's size. */
  maskOf(objectId: number, out: FrameOutput, at: FrameAt, origin: SinkMask['origin']): SinkMask {
    const L = this.opts.lowResMaskSize;
    return { objectId, frame: at.frame, ptsUs: at.ptsUs, score: out.objectScore, counts: logitsToRle(out.predMasks, L, L, this.height, this.width).counts, origin };
  }

  /**
   * Tells everyone watching that a frame failed. A broken model or encoder fails every frame in
   * the same way: that is said once (again after REPEAT_ERROR_MS), not 30 times a second.
   */
  frameFailed(index: number, err: CinesegError): void {
    const failures = ++this.opts.counters.frameFailures;
    const key = `${err.code} ${err.message}`;
    const now = performance.now();
    if (this.lastFailure?.key === key && now - this.lastFailure.at < REPEAT_ERROR_MS) return;
    this.lastFailure = { key, at: now };
    this.opts.log?.(`live frame ${index}: ${err.toLine()} (${failures} failed frame(s) in all)`);
    this.notices.next({ kind: 'json', msg: () => ({ v: PROTOCOL_VERSION, type: 'error', code: err.code, message: err.message, seq: null }) });
  }
}
