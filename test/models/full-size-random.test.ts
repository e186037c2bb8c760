/**
 * A real-size model without real weights: exports SAM 2.1 Hiera-T at the full 1024 px with random
 * weights (the same graphs, shapes and memory layout as Meta's sam2.1_hiera_tiny.pt gives), loads it
 * in the engine and tracks a few frames of a real clip from a click. This is what CI can check of
 * the real-checkpoint path: that the exporter's big graphs load in onnxruntime-node, that the
 * tracker's tensors have the 1024 px shapes, and that memory attention runs with a memory that
 * grows frame by frame (dynamic Nm / Np).
 *
 * The export is slow (minutes of CPU), so the bundle is cached in .cache/bundles/ under a hash of
 * the exporter's sources: a re-run with unchanged models/sam2 + models/export skips it. Set
 * CINESEG_SKIP_FULL_SIZE=1 to leave this file out of a quick local run.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRandomBundle } from '../../engine/src/bench/random-bundle.js';
import { loadBundle, type Bundle } from '../../engine/src/model/bundle.js';
import { ModelSessions } from '../../engine/src/model/ort-sessions.js';
import { VideoTracker, type TrackedFrame } from '../../engine/src/track/video-tracker.js';
import { DecodedFrames } from '../../engine/src/track/decoded-frames.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = 'sam2.1_hiera_t';
const FRAMES = 3;
const VIDEO = join(REPO, 'samples/real/ultrasound-catheter.mp4');
// The export alone took 7 min of CPU (up to 21 min wall on a loaded 2-core box).
const EXPORT_TIMEOUT_MS = 40 * 60_000;

const skip = process.env.CINESEG_SKIP_FULL_SIZE === '1';

describe.skipIf(skip)(`full-size ${CONFIG} (1024 px, random weights) in the engine`, () => {
  let bundle: Bundle;
  let sessions: ModelSessions;
  let frames: DecodedFrames;
  const memoryDims: number[][] = [];
  const ptrDims: number[][] = [];
  const tracked: TrackedFrame[] = [];
  let exportSeconds = 0;

  beforeAll(
    async () => {
      const made = ensureRandomBundle(CONFIG, 1024);
      exportSeconds = made.exportSeconds;
      bundle = loadBundle(made.dir);
      sessions = await ModelSessions.create(bundle, { ep: 'cpu' });
      // Record what memory attention is fed (the tracker decides Nm and Np per frame).
      const run = sessions.run.bind(sessions);
      sessions.run = async (key, feeds) => {
        if (key === 'memoryAttention') {
          memoryDims.push([...feeds.memory!.dims]);
          ptrDims.push([...feeds.obj_ptrs!.dims]);
        }
        return run(key, feeds);
      };
      frames = await DecodedFrames.open(VIDEO, bundle.imageSize, { maxFrames: FRAMES });
      const W = frames.info.width;
      const H = frames.info.height;
      const tracker = new VideoTracker(sessions, frames, { width: W, height: H, prefetch: false });
      await tracker.addPoints(0, 1, [{ x: Math.round(W / 2), y: Math.round(H / 2) }]);
      for await (const f of tracker.propagate()) tracked.push(f);
      tracker.destroy();
      console.log(`full-size ${CONFIG}: export ${exportSeconds ? `${exportSeconds.toFixed(0)} s` : 'cached'}, tracked ${tracked.length} frames`);
    },
    EXPORT_TIMEOUT_MS + 10 * 60_000,
  );

  afterAll(async () => {
    await sessions?.destroy();
    await frames?.destroy();
  });

  it('is the SAM 2.1 tiny layout at 1024 px', () => {
    expect(bundle.architecture).toBe('sam2.1');
    expect(bundle.imageSize).toBe(1024);
    expect(bundle.featureSize).toBe(64);
    expect(bundle.lowResMaskSize).toBe(256);
    expect(bundle.hiddenDim).toBe(256);
    expect(bundle.memDim).toBe(64);
    expect(bundle.memory.numMaskmem).toBe(7);
  });

  it('tracks every frame with finite 256 x 256 logits', () => {
    expect(tracked.map((f) => f.frame)).toEqual([...Array(FRAMES).keys()]);
    for (const f of tracked) {
      const out = f.objects[0]!.output;
      expect(out.predMasks.length).toBe(256 * 256);
      expect(out.objPtr.length).toBe(256);
      let finite = 0;
      for (const v of out.predMasks) if (Number.isFinite(v)) finite++;
      expect(finite).toBe(out.predMasks.length);
      expect(Number.isFinite(out.objectScore)).toBe(true);
    }
  });

  it('runs memory attention once per tracked frame with a memory that grows', () => {
    // Frame t >= 1 attends to the prompted frame 0 plus the t-1 tracked frames before it, and to
    // the pointers of all t earlier frames.
    expect(memoryDims).toEqual([...Array(FRAMES - 1).keys()].map((i) => [1, i + 1, 64, 64, 64]));
    expect(ptrDims).toEqual([...Array(FRAMES - 1).keys()].map((i) => [1, i + 1, 256]));
  });
});
