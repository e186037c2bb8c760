/**
 * Read-only facts the end-to-end tests (and a curious developer in the console) can ask the page:
 * which frame the overlay shows, the live latency samples. Nothing here changes the app.
 */
export interface CinesegHooks {
  /** Recorded view: index of the frame whose masks the overlay shows, and of the presented video frame. */
  overlayFrame: number;
  presentedFrame: number;
  /** Media time of the presented frame, and the measured media time of frame 0. */
  presentedMediaTime: number;
  frame0MediaTime: number | null;
  /**
   * Live view: glass-to-glass latency of each painted frame (ms). This and the other per-frame live
   * arrays keep the newest samples only (a procedure runs for hours): element i is painted frame
   * `liveSampleBase + i`, so readers that poll resume by frame, not by position.
   */
  liveLatenciesMs: number[];
  /** Painted live frames whose samples were dropped from the front of the arrays. */
  liveSampleBase: number;
  /** The server's drop count. */
  liveDrops: number;
  /** The server's share of each painted frame's latency (ms). */
  liveServerMs: number[];
  /** Each painted live frame's index and paint time (ms since the Unix epoch, the server's clock). */
  liveFrames: number[];
  livePaintMs: number[];
  /** When the message completing each painted live frame arrived (same clock): arrival → paint is the wait for the browser's next frame. */
  liveArrivedMs: number[];
  /** Live frames decoded by the browser but replaced by a newer one before they were painted. */
  liveClientDrops: number;
  livePainted: number;
  sessionId: string | null;
  connected: boolean;
  /** Mask messages received for the current session. */
  masksReceived: number;
  /** Live: the frame of the last click and the frame the server applied it to. */
  lastLivePrompt: { asked: number; applied: number } | null;
  /** Times the connection came back after a loss. */
  reconnects: number;
  /** The last propagation progress message (done of total frames). */
  lastProgress: { done: number; total: number } | null;
  /** A reopened stored session: how many masks its reply announced (null: a session started afresh). */
  restoredMasks: number | null;
  /** The recorded masks the page holds now: object, frame, foreground pixels and RLE run count of each. */
  masksHeld: () => { objectId: number; frame: number; area: number; runs: number }[];
  /** Recorded view: the prompts drawn on the frame on screen (video pixels), and which one is selected. */
  drawnPrompts: {
    promptId: string | number;
    objectId: number;
    frame: number;
    kind: string;
    points: { x: number; y: number; label: number }[];
    box?: [number, number, number, number];
    selected: boolean;
  }[];
  /** The server's last `prompts` message: how many prompts, and whether undo / redo are possible. */
  promptList: { count: number; canUndo: boolean; canRedo: boolean } | null;
  /** The editing tool ('prompt', 'brush', 'eraser') and the brush radius in video pixels. */
  editTool: string;
  brushRadius: number;
  /** Mask prompts (brush/eraser strokes) sent. */
  maskEditsSent: number;
}

declare global {
  interface Window {
    __cineseg: CinesegHooks;
  }
}

export const hooks: CinesegHooks = {
  overlayFrame: -1,
  presentedFrame: -1,
  presentedMediaTime: -1,
  frame0MediaTime: null,
  liveLatenciesMs: [],
  liveSampleBase: 0,
  liveDrops: 0,
  liveServerMs: [],
  liveFrames: [],
  livePaintMs: [],
  liveArrivedMs: [],
  liveClientDrops: 0,
  livePainted: 0,
  sessionId: null,
  connected: false,
  masksReceived: 0,
  lastLivePrompt: null,
  reconnects: 0,
  lastProgress: null,
  restoredMasks: null,
  masksHeld: () => [],
  drawnPrompts: [],
  promptList: null,
  editTool: 'prompt',
  brushRadius: 0,
  maskEditsSent: 0,
};
// Guarded so the module also loads where there is no window (unit tests in Node).
if (typeof window !== 'undefined') window.__cineseg = hooks;

/** Samples kept per live array: the newest LIVE_SAMPLES_KEPT, trimmed in batches of as many again. */
export const LIVE_SAMPLES_KEPT = 2048;

/** Records one painted live frame's samples, keeping the arrays bounded. */
export function recordLivePaint(s: { frame: number; paintMs: number; arrivedMs: number; latencyMs: number; serverMs: number }): void {
  hooks.liveFrames.push(s.frame);
  hooks.livePaintMs.push(s.paintMs);
  hooks.liveArrivedMs.push(s.arrivedMs);
  hooks.liveLatenciesMs.push(s.latencyMs);
  hooks.liveServerMs.push(s.serverMs);
  hooks.livePainted++;
  const extra = hooks.liveLatenciesMs.length - LIVE_SAMPLES_KEPT;
  // Batched, so trimming costs O(1) per frame rather than a shift of 2,048 numbers each time.
  if (extra >= LIVE_SAMPLES_KEPT) {
    for (const a of [hooks.liveFrames, hooks.livePaintMs, hooks.liveArrivedMs, hooks.liveLatenciesMs, hooks.liveServerMs]) a.splice(0, extra);
    hooks.liveSampleBase += extra;
  }
}
