/**
 * How the player prompts a live session. Live objects live on the server (they outlive a reload
 * and are shared by every viewer), so the player never replays its clicks: it only sends new ones.
 * - Each click is sent alone with `clearOld: false`: the server adds it to the frame's earlier
 *   clicks (a negative click after a positive one refines the mask).
 * - An object the server does not know yet is asked for with `newObject`: the server picks its id
 *   (two viewers adding an object at once get two ids) and the ack says which; the local entry is
 *   renamed to it. Clicks made before that ack wait for it, so they reach the same object.
 */
import type { Ack } from '../../../engine/src/protocol.js';
import type { Connection } from './../connection.js';

export interface LivePoint {
  x: number;
  y: number;
  label: 0 | 1;
}

/** Local object id → the server's id for it (pending while its first prompt is in flight). */
export class LiveObjectIds {
  private readonly ids = new Map<number, Promise<number>>();

  /** Forgets every mapping (a new live session). */
  clear(): void {
    this.ids.clear();
  }

  /**
   * Sends a click (or a box, which starts the frame's prompt afresh) for the local object `local`.
   * `known`: the server already tracks an object with this id (its masks arrived). `renamed` is
   * called once when the server gave the object another id than the local one.
   */
  async send(
    c: Connection,
    sessionId: string,
    frame: number,
    local: number,
    prompt: { points: LivePoint[]; box?: [number, number, number, number] },
    known: boolean,
    renamed: (local: number, server: number) => void,
  ): Promise<Ack> {
    let id = this.ids.get(local);
    if (!id && known) this.ids.set(local, (id = Promise.resolve(local)));
    const body = (objectId: number, newObject: boolean) =>
      prompt.box
        ? ({ type: 'addBox', sessionId, frame, objectId, box: prompt.box, points: prompt.points, ...(newObject ? { newObject } : {}) } as const)
        : ({ type: 'addPoints', sessionId, frame, objectId, points: prompt.points, clearOld: false, ...(newObject ? { newObject } : {}) } as const);
    if (id) {
      const objectId = await id;
      return (await c.request(body(objectId, false))) as Ack;
    }
    const first = c.request(body(local, true)).then((r) => r as Ack);
    const server = first.then((a) => a.objectId ?? local);
    this.ids.set(local, server);
    // A failed first prompt leaves the object unknown: the next click asks again.
    server.catch(() => this.ids.delete(local));
    const a = await first;
    const sid = a.objectId ?? local;
    if (sid !== local) {
      this.ids.set(sid, Promise.resolve(sid));
      renamed(local, sid);
    }
    return a;
  }
}
