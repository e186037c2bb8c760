/**
 * The annotation-effort robot through the player's protocol path (a real server on 127.0.0.1 port
 * 0, driven over its WebSocket with startSession / addPoints clearOld:false / propagate) against
 * the engine-API robot on the same small clips in one run, with the test model: endoscopy seed 3
 * object 2 (24 frames; finishes in 2 clicks, the correction on frame 0) and seed 2 object 2 (30
 * frames, capped at 4 clicks; its corrections land on late frames, where the player's plan, from
 * the corrected frame, and the API robot's, from the earliest prompt, propagate differently).
 * With the API robot's plan the protocol path must click exactly where the API path does (the
 * server's tracker packs old outputs, boundedMemory, the bench's keeps them whole: equal here, though
 * not bit-exact in general); with the player's plan the click counts are reported side by side.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleClips } from '../../../engine/src/bench/annotation-effort.js';
import { catalogIdOf, compareEffortPaths, type EffortPathsSummary } from '../../../engine/src/bench/annotation-effort-ws.js';
import { loadBundle } from '../../../engine/src/model/bundle.js';
import { ModelSessions } from '../../../engine/src/model/ort-sessions.js';
import { DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH, writeClip } from '../../../samples/src/clip-writer.js';
import { testBundleDir } from '../model/test-bundle.js';

const CASES = [
  { seed: 3, objectId: 2, frames: 24, maxClicks: 8 },
  { seed: 2, objectId: 2, frames: 30, maxClicks: 4 },
];
let tmp: string;
let sessions: ModelSessions;
const summaries: EffortPathsSummary[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-effort-ws-'));
  sessions = await ModelSessions.create(loadBundle(testBundleDir()), { ep: 'cpu' });
  for (const c of CASES) {
    await writeClip({ kind: 'endoscopy', seed: c.seed, width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT, fps: DEFAULT_FPS, frames: c.frames }, join(tmp, 'media'));
    const clips = sampleClips(join(tmp, 'media'), [`endoscopy-${c.seed}`]).filter((x) => x.objectId === c.objectId);
    summaries.push(await compareEffortPaths(clips, { sessions, maxClicks: c.maxClicks, log: (l) => process.stderr.write(`${l}\n`) }));
  }
  process.stderr.write(
    `${JSON.stringify(summaries.map((s) => s.rows.map(({ name, clicksViaApi, clicksViaProtocol, clicksViaProtocolEarliest, trace }) => ({ name, clicksViaApi, clicksViaProtocol, clicksViaProtocolEarliest, trace }))))}\n`,
  );
}, 600_000);

afterAll(async () => {
  await sessions?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('annotation effort: engine API vs the player protocol path', () => {
  it('names sample clips as the server catalog does', () => {
    expect(catalogIdOf(join(tmp, 'media', 'endoscopy-3', 'clip.mp4'))).toEqual({ media: join(tmp, 'media'), id: 'media/endoscopy-3' });
  });

  it.each(CASES.map((c, i) => [`endoscopy-${c.seed}#${c.objectId}`, i] as const))('%s: with the same propagation plan, the protocol path clicks exactly where the API does', (_name, i) => {
    const [row] = summaries[i]!.rows;
    expect(row!.frames).toBe(CASES[i]!.frames);
    // Some correction happened: a one-click clip would compare nothing but the first click.
    expect(row!.trace.api.length).toBeGreaterThan(1);
    expect(row!.trace.protocolEarliest).toEqual(row!.trace.api);
    expect(row!.clicksViaProtocolEarliest).toBe(row!.clicksViaApi);
  });

  it.each(CASES.map((c, i) => [`endoscopy-${c.seed}#${c.objectId}`, i] as const))(
    '%s: the player plan: one addPoints and one propagate per click over one session; counts side by side',
    (_name, i) => {
      const summary = summaries[i]!;
      const [row] = summary.rows;
      const clicks = row!.trace.protocol.length;
      expect(row!.requests).toEqual({ startSession: 1, addPoints: clicks, propagate: clicks, closeSession: 1 });
      expect(summary.clicksViaApi).toBe(row!.clicksViaApi ?? summary.maxClicks);
      expect(summary.clicksViaProtocol).toBe(row!.clicksViaProtocol ?? summary.maxClicks);
      // Up to the first correction both plans sent the same requests, so the same clicks.
      expect(row!.trace.protocol.slice(0, 2)).toEqual(row!.trace.api.slice(0, 2));
      // The player path costs no more clicks than the API on these clips.
      expect(summary.clicksViaProtocol).toBeLessThanOrEqual(summary.clicksViaApi);
    },
  );
});
