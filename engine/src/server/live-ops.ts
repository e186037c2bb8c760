/**
 * The operations viewers queue on a live run — prompts, object removals, freezes — and how the
 * tracker applies them between two tracked frames: a prompt lands on the held (or frozen) frame it
 * names, the held frames after it are tracked again, and all of it is stored before it is
 * acknowledged.
 */
import { CinesegError, ErrorCode, toCinesegError } from '../errors.js';
import { decodeMask } from '../mask/rle.js';
import { PROTOCOL_VERSION, type AddBox, type AddMask, type AddPoints } from '../protocol.js';
import type { StreamPrompt } from '../track/stream-tracker.js';
import type { SinkMask, SinkPrompt } from './annotation-sink.js';
import type { LiveOp, LiveRun } from './live-run.js';

/** A viewer's prompt message as the tracker's prompt for `objectId`; throws when its mask does not fit the video. */
export function streamPromptOf(run: LiveRun, msg: AddPoints | AddBox | AddMask, objectId: number): StreamPrompt {
  if (msg.type === 'addPoints') return { objectId, points: msg.points, clearOld: msg.clearOld ?? true };
  if (msg.type === 'addBox') return { objectId, box: msg.box, points: msg.points ?? [] };
  const [h, w] = msg.rle.size;
  if (h !== run.height || w !== run.width) throw new CinesegError(ErrorCode.E_MASK_INVALID, `mask is ${w}x${h}, the live video is ${run.width}x${run.height}`);
  // The one COCO RLE decoder (mask/rle.ts): E_RLE_INVALID unless the counts cover h x w.
  return { objectId, mask: decodeMask({ size: [h, w], counts: msg.rle.counts }) };
}

/** Runs the queued operations that can run now, in order; call it inside the pipeline's exclusive chain. */
export async function runOps(run: LiveRun): Promise<void> {
  while (!run.closed) {
    // A prompt needs a tracked frame to land on; before the first one it waits.
    const op = run.ops.find((o) => o.kind === 'remove' || o.kind === 'unfreeze' || run.held.length > 0);
    if (!op) return;
    run.ops.splice(run.ops.indexOf(op), 1);
    await runOp(run, op);
  }
}

async function runOp(run: LiveRun, op: LiveOp): Promise<void> {
  try {
    if (op.kind === 'remove') {
      if (!run.tracker?.removeObject(op.objectId)) throw new CinesegError(ErrorCode.E_OBJECT_UNKNOWN, `object ${op.objectId} is not tracked`);
      await run.record.removeObject(op.objectId);
      run.notices.next({ kind: 'json', msg: (v) => ({ v: PROTOCOL_VERSION, type: 'objectRemoved', seq: null, sessionId: v.sessionId, objectId: op.objectId }) });
      op.resolve();
      return;
    }
    if (op.kind === 'unfreeze') {
      run.freezes.release(run.tracker, op.sessionId);
      op.resolve();
      return;
    }
    if (op.kind === 'freeze') {
      const wanted = run.held.find((h) => h.frame === op.frame) ?? run.freezes.find(op.frame);
      op.resolve(run.freezes.freeze(run.tracker!, op.sessionId, wanted, run.held.at(-1)!));
      return;
    }
    // Acknowledged means stored: without a record there is nowhere to store the prompt.
    await run.record.ensure(true, run);
    // A frame a viewer froze stays promptable after it left the held ones (live-freezes.ts).
    const at = run.held.find((h) => h.frame === op.msg.frame) ?? run.freezes.find(op.msg.frame) ?? run.held.at(-1)!;
    const objectId = op.prompt.objectId;
    const [res] = await run.tracker!.promptAt(at.frame, [op.prompt], { retrack: false });
    const mask = run.maskOf(objectId, res!.output, at, 'prompt');
    // The held frames after it, tracked again from the corrected memory: what viewers saw there
    // is replaced. The prompt stands if that fails (the next frames are tracked from it anyway).
    let later: SinkMask[] = [];
    try {
      const again = (await run.tracker!.retrackAfter(at.frame, [objectId])).get(objectId) ?? [];
      later = again.map((l) =>
        run.maskOf(
          objectId,
          l.output,
          run.held.find((h) => h.frame === l.frame)!,
          'propagate',
        ),
      );
    } catch (e) {
      run.frameFailed(at.frame, toCinesegError(e));
    }
    const m = op.msg;
    let p: SinkPrompt;
    if (m.type === 'addPoints') p = { kind: 'points', objectId, frame: at.frame, points: m.points, clearOld: op.prompt.clearOld ?? true };
    else if (m.type === 'addBox') p = { kind: 'box', objectId, frame: at.frame, box: m.box, points: m.points ?? [] };
    else p = { kind: 'mask', objectId, frame: at.frame, counts: m.rle.counts };
    // Confirmed: stored before anyone sees it.
    await run.record.confirm(p, [mask, ...later]);
    run.notices.next({ kind: 'masks', masks: [mask, ...later] });
    op.resolve({ frame: at.frame, ptsUs: at.ptsUs, objectId });
  } catch (e) {
    op.reject(e);
  }
}
