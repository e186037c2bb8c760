/**
 * Read-only facts of the live view for the end-to-end tests (`window.__cinesegLive`): the frame on
 * screen, whether the view is frozen and on which frame, each object's area as shown. Apart from
 * test-hooks.ts so the live view's additions stay in the live files.
 */
export interface LiveHooks {
  /** Index of the live frame on screen (−1 before the first). */
  shownFrame: number;
  /** Frozen: the frame the server keeps for this viewer (its ack), else null. */
  frozenFrame: number | null;
  /** Frames painted since the page loaded (stops while frozen). */
  painted: number;
  /** Each object's foreground pixels and mm² (null without a pixel spacing) on the frame on screen. */
  areas: { objectId: number; pixels: number; mm2: number | null }[];
  /** The last box drawn on the live view (video pixels). */
  lastBox: [number, number, number, number] | null;
}

declare global {
  interface Window {
    __cinesegLive: LiveHooks;
  }
}

export const liveHooks: LiveHooks = { shownFrame: -1, frozenFrame: null, painted: 0, areas: [], lastBox: null };
if (typeof window !== 'undefined') window.__cinesegLive = liveHooks;
