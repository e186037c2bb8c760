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
  /** Live view: glass-to-glass latency of every painted frame (ms), and the server's drop count. */
  liveLatenciesMs: number[];
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
};
window.__cineseg = hooks;
