/**
 * The player's end of a live freeze: `freezeLive` asks the server to keep the frame on screen
 * promptable while this viewer annotates it (the source goes on being tracked); the ack names the
 * frame it keeps — the one asked for, or its newest when this viewer had fallen further behind
 * than the server holds. `unfreezeLive` releases it.
 */
import { notConnected } from '../client-error.js';
import type { Connection } from '../connection.js';

/** Freezes on `frame` (resolves with the frame the server keeps) or, with null, unfreezes (resolves null). */
export async function requestLiveFreeze(c: Connection | null, sessionId: string, frame: number | null): Promise<number | null> {
  if (!c) throw notConnected();
  if (frame === null) {
    await c.request({ type: 'unfreezeLive', sessionId });
    return null;
  }
  const r = await c.request({ type: 'freezeLive', sessionId, frame });
  return r.type === 'ack' && r.frame !== undefined ? r.frame : frame;
}
