/**
 * The robot annotator on real (short) synthetic clips with the shipped model, checked against
 * independent recomputations from the masks it returns (keepHistory): the first click is at a
 * deepest GT point (brute-force distance), each correction lands on a worst frame and in a region
 * of the kind its sign says, the stopping rule holds, and the reported J&F, per-frame J and
 * correction-response numbers match what the masks give. Clips are generated into a temp dir:
 * 24 frames of endoscopy seeds 2 and 3, which the shipped model gets partly wrong (so there are
 * corrections of both signs) — seed 3's object 2 finishes in a couple of clicks, seed 2's
 * object 1 runs into the 20-click cap.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareBundlesEffort, sampleClips, type EffortClip } from '../../../engine/src/bench/annotation-effort.js';
import { runRobotAnnotator, type RobotResult } from '../../../engine/src/bench/robot-annotator.js';
import { scoreSequence } from '../../../engine/src/mask/metrics.js';
import { decodeMask } from '../../../engine/src/mask/rle.js';
import { readVisJson } from '../../../engine/src/mask/vis-json.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH, writeClip } from '../../../samples/src/clip-writer.js';
import { VideoTracker } from '../../../engine/src/track/video-tracker.js';
import { DecodedFrames } from '../../../engine/src/track/decoded-frames.js';
import { testBundleDir } from '../model/test-bundle.js';
import { iou } from '../track/fixtures.js';

const FRAMES = 24;
const TARGET = 0.85;
const MAX_CLICKS = 20;

let tmp: string;
let sessions: ModelSessions;
let clips: EffortClip[];
const runs = new Map<string, RobotResult>();

/** GT masks of one object (all-zero where absent), straight from the RLE decoder. */
function gtMasks(c: EffortClip): Uint8Array[] {
  const j = readVisJson(c.gt);
  const v = j.videos[0]!;
  const a = j.annotations.find((x) => x.object_id === c.objectId)!;
  return a.segmentations.slice(0, FRAMES).map((r) => (r ? decodeMask(r) : new Uint8Array(v.width * v.height)));
}

/**
 * Squared distance from (x, y) to the nearest background pixel, the image edge being background:
 * brute force over the background pixels next to the mask (the nearest background pixel always
 * has a foreground 4-neighbour) and the ring outside the image.
 */
function bruteDepths(m: Uint8Array, w: number, h: number): Float64Array {
  const cand: [number, number][] = [];
  const fg = (x: number, y: number) => x >= 0 && y >= 0 && x < w && y < h && m[y * w + x] !== 0;
  for (let y = -1; y <= h; y++) {
    for (let x = -1; x <= w; x++) {
      if (fg(x, y)) continue;
      if (fg(x - 1, y) || fg(x + 1, y) || fg(x, y - 1) || fg(x, y + 1)) cand.push([x, y]);
    }
  }
  const out = new Float64Array(w * h);
  for (let i = 0; i < m.length; i++) {
    if (!m[i]) continue;
    const x = i % w;
    const y = (i - x) / w;
    let best = Infinity;
    for (const [cx, cy] of cand) best = Math.min(best, (cx - x) ** 2 + (cy - y) ** 2);
    out[i] = best;
  }
  return out;
}

async function run(name: string): Promise<RobotResult> {
  const hit = runs.get(name);
  if (hit) return hit;
  const c = clips.find((x) => x.name === name)!;
  const r = await runRobotAnnotator({ ...c, sessions, keepHistory: true });
  runs.set(name, r);
  return r;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-effort-'));
  for (const seed of [2, 3]) await writeClip({ kind: 'endoscopy', seed, width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT, fps: DEFAULT_FPS, frames: FRAMES }, tmp);
  clips = sampleClips(tmp, ['endoscopy-2', 'endoscopy-3']);
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
});

afterAll(async () => {
  await sessions?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const CASES = ['endoscopy-2#1', 'endoscopy-3#2'];

describe('runRobotAnnotator', () => {
  it.each(CASES)('%s: first click is positive, on the first GT frame, at a deepest GT pixel', async (name) => {
    const r = await run(name);
    const gt = gtMasks(clips.find((x) => x.name === name)!);
    const first = gt.findIndex((m) => m.some((v) => v !== 0));
    const c = r.clicks[0]!;
    expect(c.frame).toBe(first);
    expect(c.label).toBe(1);
    const m = gt[first]!;
    expect(m[c.y * r.width + c.x]).toBe(1);
    const d = bruteDepths(m, r.width, r.height);
    let max = 0;
    for (let i = 0; i < d.length; i++) if (m[i]) max = Math.max(max, d[i]!);
    expect(d[c.y * r.width + c.x]).toBe(max);
    expect(c.distance).toBeCloseTo(Math.sqrt(max), 9);
  });

  it.each(CASES)('%s: the stopping rule holds against J recomputed from the returned masks', async (name) => {
    const r = await run(name);
    const gt = gtMasks(clips.find((x) => x.name === name)!);
    const h = r.history!;
    expect(h.length).toBe(r.clicksUsed);
    expect(r.clicks.length).toBe(r.clicksUsed);
    expect(r.clicksUsed).toBeLessThanOrEqual(MAX_CLICKS);
    const minJ = h.map((step, k) => {
      const js = step.masks.map((rle, f) => iou(decodeMask(rle), gt[f]!));
      js.forEach((j, f) => expect(step.perFrameJ[f], `step ${k + 1} frame ${f}`).toBeCloseTo(j, 9));
      return Math.min(...js);
    });
    // The robot never stops while some frame is below target, unless the click budget is spent...
    for (let k = 0; k < minJ.length - 1; k++) expect(minJ[k], `after ${k + 1} clicks`).toBeLessThan(TARGET);
    const last = minJ[minJ.length - 1]!;
    if (r.reached) {
      expect(last).toBeGreaterThanOrEqual(TARGET);
      expect(r.clicksToFinish).toBe(r.clicksUsed);
    } else {
      // ...and when it stops without reaching it, the budget was spent.
      expect(last).toBeLessThan(TARGET);
      expect(r.clicksUsed).toBe(MAX_CLICKS);
      expect(r.clicksToFinish).toBeNull();
    }
  });

  it.each(CASES)('%s: each correction is on a worst frame, its sign matches the region it clicks, and its numbers match the masks', async (name) => {
    const r = await run(name);
    const gt = gtMasks(clips.find((x) => x.name === name)!);
    const h = r.history!;
    const J = h.map((step) => step.masks.map((rle, f) => iou(decodeMask(rle), gt[f]!)));
    const mean = (a: number[], from: number, to: number) => (to > from ? a.slice(from, to).reduce((s, v) => s + v, 0) / (to - from) : null);
    for (const c of r.clicks.slice(1)) {
      const before = J[c.click - 2]!;
      const after = J[c.click - 1]!;
      expect(before[c.frame], `click ${c.click}`).toBeCloseTo(Math.min(...before), 12);
      const pred = decodeMask(h[c.click - 2]!.masks[c.frame]!);
      const i = c.y * r.width + c.x;
      if (c.label === 1) {
        expect(c.region).toBe('missed');
        expect([gt[c.frame]![i], pred[i]], `click ${c.click} (+) must be on GT & !pred`).toEqual([1, 0]);
      } else {
        expect(c.region).toBe('falsePositive');
        expect([gt[c.frame]![i], pred[i]], `click ${c.click} (-) must be on pred & !GT`).toEqual([0, 1]);
      }
      expect(c.jBefore).toBeCloseTo(before[c.frame]!, 9);
      expect(c.jAfterPropagation).toBeCloseTo(after[c.frame]!, 9);
      const end = Math.min(r.frames, c.frame + 11);
      const fb = mean(before, c.frame + 1, end);
      const fa = mean(after, c.frame + 1, end);
      if (fb === null) expect(c.followBefore).toBeNull();
      else expect(c.followBefore).toBeCloseTo(fb, 9);
      if (fa === null) expect(c.followAfter).toBeNull();
      else expect(c.followAfter).toBeCloseTo(fa, 9);
    }
  });

  it('corrections of both signs occur on these clips (so the sign checks above are not vacuous)', async () => {
    const all = (await Promise.all(CASES.map(run))).flatMap((r) => r.clicks.slice(1));
    expect(all.some((c) => c.label === 1)).toBe(true);
    expect(all.some((c) => c.label === 0)).toBe(true);
  });

  it.each(CASES)('%s: the J&F curve and jfAfterClicks match DAVIS J&F of the returned masks', async (name) => {
    const r = await run(name);
    const gt = gtMasks(clips.find((x) => x.name === name)!);
    const jf = r.history!.map(
      (step) =>
        scoreSequence(
          r.frames,
          r.height,
          r.width,
          (f) => decodeMask(step.masks[f]!),
          (f) => gt[f]!,
        ).JF,
    );
    expect(r.curve.map((p) => p.JF)).toEqual(jf.map((v) => expect.closeTo(v, 9)));
    const at = (k: number) => jf[Math.min(k, jf.length) - 1]!;
    expect(r.jfAfterClicks[1]).toBeCloseTo(at(1), 9);
    expect(r.jfAfterClicks[3]).toBeCloseTo(at(3), 9);
    expect(r.jfAfterClicks[5]).toBeCloseTo(at(5), 9);
  });

  it('endoscopy-3#2: corrections help here: J&F never drops by more than 0.01 and ends above the first click', async () => {
    // Not true of every clip with the shipped model (a negative click on a big leak can make
    // the leak a conditioning memory and lower J&F; the bench reports that), so this is checked
    // on the clip where the robot finishes.
    const r = await run('endoscopy-3#2');
    expect(r.reached).toBe(true);
    for (let k = 1; k < r.curve.length; k++) expect(r.curve[k]!.JF).toBeGreaterThanOrEqual(r.curve[k - 1]!.JF - 0.01);
    expect(r.jfAfterClicks[5]).toBeGreaterThanOrEqual(r.jfAfterClicks[1]);
  });
});

describe('robot clicks replayed', () => {
  it('endoscopy-3#2: the recorded clicks, fed to a fresh tracker, give the recorded masks of every step', async () => {
    // What the robot reports (frame, point, sign) must be what it sent to the tracker.
    const r = await run('endoscopy-3#2');
    const c = clips.find((x) => x.name === 'endoscopy-3#2')!;
    const frames = await DecodedFrames.open(c.video, sessions.bundle.imageSize, { maxFrames: FRAMES });
    const t = new VideoTracker(sessions, frames, { width: r.width, height: r.height, featureCacheSize: FRAMES + 1 });
    try {
      for (const k of r.clicks) {
        await t.addPoints(k.frame, c.objectId, [{ x: k.x, y: k.y, label: k.label }], { clearOld: false });
        for await (const _ of t.propagate()) void _;
        const step = r.history![k.click - 1]!;
        for (let f = 0; f < r.frames; f++) {
          const got = t.maskAt(f, c.objectId) ?? new Uint8Array(r.width * r.height);
          expect(iou(got, decodeMask(step.masks[f]!)), `click ${k.click} frame ${f}`).toBe(1);
        }
      }
    } finally {
      t.destroy();
      await frames.destroy();
    }
  });
});

describe('compareBundlesEffort', () => {
  it('runs both bundles on the same clips; one bundle twice gives the same clicks', async () => {
    const c = clips.filter((x) => x.name === 'endoscopy-3#2');
    const dir = testBundleDir();
    const res = await compareBundlesEffort(dir, dir, c, { maxClicks: 4, ep: 'cpu' });
    expect(res.before.perClip.map((p) => p.name)).toEqual(['endoscopy-3#2']);
    expect(res.clicksToFinishBefore).toBe(res.before.clicksToFinish);
    expect(res.clicksToFinishAfter).toBe(res.after.clicksToFinish);
    expect(res.clicksToFinishAfter).toBe(res.clicksToFinishBefore);
    expect(res.after.jfAfterClicks[1]).toBeCloseTo(res.before.jfAfterClicks[1], 6);
    // The same object as the robot run above, capped at 4 clicks: the same clicks to finish.
    const full = await run('endoscopy-3#2');
    expect(res.before.perClip[0]!.clicksToFinish).toBe(full.clicksToFinish !== null && full.clicksToFinish <= 4 ? full.clicksToFinish : null);
  });
});
