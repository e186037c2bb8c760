/**
 * The bad input corpus and the broken bundles through the built CLI, the way a user meets them:
 * `cineseg probe` / `cineseg track` print exactly one `E_CODE: message` line, exit 1, and write no
 * output; the odd-but-valid videos track and write masks at their own size.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCode, loadCorpus, type BadVideo } from '../decode/bad-video-corpus.js';
import { loadBadBundles, makeBadBundle } from '../model/bad-bundle-corpus.js';
import { cineseg, ensureBuilt, type CliResult } from './track-helpers.js';

const videos = loadCorpus();
const bundles = loadBadBundles();
const tmp = mkdtempSync(join(tmpdir(), 'cineseg-badcli-'));

beforeAll(async () => {
  await ensureBuilt();
}, 600_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `jobs` with at most `n` CLI processes at once (each is mostly start-up and waiting). */
async function pool<T>(jobs: (() => Promise<T>)[], n = 3): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

/** The E_CODE of a failed run, checking the one-line contract on the way. */
function failure(r: CliResult, what: string): string {
  const lines = r.stderr.split('\n').filter((l) => /^E_[A-Z_]+: /.test(l));
  expect(lines, `${what}: stderr was ${r.stderr}`).toHaveLength(1);
  expect(r.stderr, what).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.code, what).toBe(1);
  return lines[0]!.slice(0, lines[0]!.indexOf(':'));
}

/** A prompt inside any frame of the clip: its centre (1x1 clips included). */
function centre(v: BadVideo): string {
  const p = typeof v.expect.probe === 'object' ? v.expect.probe : {};
  const w = typeof p.width === 'number' ? p.width : 64;
  const h = typeof p.height === 'number' ? p.height : 48;
  return `0:${Math.floor(w / 2)},${Math.floor(h / 2)}`;
}

describe('bad videos through the CLI', () => {
  it('cineseg probe: refused files print their one coded line and exit 1 (one file per code)', async () => {
    // Every file goes through probe() in-process (test/engine/decode/bad-videos.test.ts) and
    // through `cineseg track` below; a process per file here would repeat that at a CPU cost.
    const seen = new Set<string>();
    const refused = videos.filter((v) => isCode(v.expect.probe) && !seen.has(v.expect.probe) && seen.add(v.expect.probe));
    expect(refused.length).toBeGreaterThanOrEqual(5);
    const results = await pool(refused.map((v) => () => cineseg(['probe', v.path])));
    const got = refused.map((v, i) => [v.file, failure(results[i]!, v.file)]);
    expect(got).toEqual(refused.map((v) => [v.file, v.expect.probe]));
  });

  it('cineseg track: refused files fail before any output; odd valid files track at their own size', async () => {
    // Every refused file; of the valid ones, the odd geometries (all of them are tracked in
    // the server test, which is cheaper than a process per clip).
    const oddValid = new Set(['rotated.mp4', 'tiny-1x1.mkv', 'odd-3x5.mp4', 'size-change.m2ts']);
    const chosen = videos.filter((v) => v.expect.track !== 'ok' || oddValid.has(v.file));
    // A refused file must fail whatever the length asked for, so only valid ones get --max-frames.
    const args = (v: BadVideo, i: number): string[] => [
      'track',
      v.path,
      '--point',
      centre(v),
      ...(v.expect.track === 'ok' ? ['--max-frames', '3'] : []),
      '--ep',
      'cpu',
      '--out',
      join(tmp, `v${i}.json`),
    ];
    const results = await pool(chosen.map((v, i) => () => cineseg(args(v, i))));
    for (const [i, v] of chosen.entries()) {
      const r = results[i]!;
      const out = join(tmp, `v${i}.json`);
      if (v.expect.track === 'ok') {
        expect(r.code, `${v.file}: ${r.stderr}`).toBe(0);
        const vis = JSON.parse(readFileSync(out, 'utf8')) as { videos: { width: number; height: number }[]; annotations: { segmentations: unknown[] }[] };
        const p = v.expect.probe as Record<string, number>;
        if (p.width !== undefined) expect([vis.videos[0]!.width, vis.videos[0]!.height], v.file).toEqual([p.width, p.height]);
        // --max-frames 3 from frame 0: four frames, or all of a shorter clip.
        const n = typeof p.frameCount === 'number' ? Math.min(4, p.frameCount) : 4;
        expect(vis.annotations[0]!.segmentations.filter((s) => s !== null).length, v.file).toBeLessThanOrEqual(n);
        expect(vis.annotations[0]!.segmentations.length, v.file).toBeGreaterThanOrEqual(1);
      } else {
        expect([v.file, failure(r, v.file)]).toEqual([v.file, v.expect.track]);
        expect(existsSync(out), `${v.file} wrote output`).toBe(false);
      }
    }
  });
});

describe('broken bundles through the CLI', () => {
  it('cineseg track --model <broken>: the E_BUNDLE_* line before the first frame, no output', async () => {
    const clip = videos.find((v) => v.file === 'single-frame.mp4')!.path;
    const dirs = bundles.map((b) => makeBadBundle(b, join(tmp, `bundle-${b.name}`)));
    const results = await pool(bundles.map((b, i) => () => cineseg(['track', clip, '--model', dirs[i]!, '--point', '0:32,24', '--out', join(tmp, `b${i}.json`)])));
    const got = bundles.map((b, i) => [b.name, failure(results[i]!, b.name)]);
    expect(got).toEqual(bundles.map((b) => [b.name, b.expect]));
    for (const [i] of bundles.entries()) expect(existsSync(join(tmp, `b${i}.json`))).toBe(false);
  });
});
