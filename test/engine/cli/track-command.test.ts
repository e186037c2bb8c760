import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask } from '../../../engine/src/mask/rle.js';
import { readPngMask } from '../../../engine/src/mask/png-mask.js';
import type { VisJson } from '../../../engine/src/mask/vis-json.js';
import { hasTrainedBundle, REPO_ROOT, testBundleDir } from '../model/test-bundle.js';
import { cineseg, ensureBuilt } from './track-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-track-'));
const AQ = join(REPO_ROOT, 'samples', 'real', 'aquarium.mp4');
const AQ_MASK = join(REPO_ROOT, 'samples', 'real', 'aquarium-mask-frame0.png');
// The shipped bundle once it exists (resolved by the CLI itself), the random one before.
const model = hasTrainedBundle ? [] : ['--model', testBundleDir()];

beforeAll(async () => {
  await ensureBuilt();
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('cineseg track: usage and input errors', () => {
  it('needs a prompt (E_USAGE, exit 2)', async () => {
    const r = await cineseg(['track', AQ, ...model, '--out', join(tmp, 'x.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^E_USAGE: give at least one --point, --box or --mask/m);
  });

  it('rejects a malformed point (E_USAGE)', async () => {
    const r = await cineseg(['track', AQ, ...model, '--point', '0:12', '--out', join(tmp, 'x.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^E_USAGE: --point "12": expected 2 or 3/m);
  });

  it('reports a missing video and a missing bundle with their codes', async () => {
    const a = await cineseg(['track', join(tmp, 'nope.mp4'), ...model, '--point', '0:1,1', '--out', join(tmp, 'x.json')]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^E_INPUT_NOT_FOUND: /m);
    const b = await cineseg(['track', AQ, '--model', join(tmp, 'no-bundle'), '--point', '0:1,1', '--out', join(tmp, 'x.json')]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^E_BUNDLE_NOT_FOUND: /m);
  });

  it('rejects a prompt past the end of the video (E_FRAME_OUT_OF_RANGE)', async () => {
    const r = await cineseg(['track', AQ, ...model, '--point', '5000:10,10', '--out', join(tmp, 'x.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_FRAME_OUT_OF_RANGE: /m);
  });
});

describe('cineseg track: output', () => {
  const out = join(tmp, 'aq.json');
  let run: Awaited<ReturnType<typeof cineseg>>;
  beforeAll(async () => {
    run = await cineseg(
      [
        'track',
        AQ,
        ...model,
        '--mask',
        `0:${AQ_MASK}`,
        '--object',
        '2',
        '--point',
        '0:400,180',
        '--box',
        '0:100,100,250,200',
        '--max-frames',
        '3',
        '--label',
        'polyp',
        '--label',
        '2=instrument',
        '--ep',
        'cpu',
        '--out',
        out,
      ],
      tmp,
    );
  }, 120_000);

  it('exits 0 and prints the execution provider and the speed', () => {
    expect(run.stderr).toMatch(/execution provider: cpu/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/tracked 2 object\(s\) over 4 frames in [\d.]+ s: [\d.]+ fps on cpu/);
  });

  it('--label names the objects: their categories in the output', () => {
    const j = JSON.parse(readFileSync(out, 'utf8')) as VisJson;
    expect(j.categories).toEqual([
      { id: 1, name: 'polyp' },
      { id: 2, name: 'instrument' },
    ]);
    expect(j.annotations.map((a) => [a.object_id, a.category_id])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('--label: more names than objects is a usage error', async () => {
    const r = await cineseg(['track', AQ, ...model, '--point', '0:1,1', '--label', 'a', '--label', 'b', '--out', join(tmp, 'x.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^E_USAGE: --label "b": more labels than prompted objects \(1\)/m);
  });

  it('writes YouTube-VIS JSON at the video resolution, null on frames not visited', () => {
    const j = JSON.parse(readFileSync(out, 'utf8')) as VisJson;
    expect(j.videos[0]).toMatchObject({ id: 1, width: 800, height: 360, length: 227 });
    expect(j.videos[0]!.fps).toBeCloseTo(29.97, 2);
    expect(j.annotations.map((a) => a.object_id)).toEqual([1, 2]);
    for (const a of j.annotations) {
      expect(a.video_id).toBe(1);
      expect(a.segmentations).toHaveLength(227);
      expect(a.segmentations.slice(0, 4).every((s) => s !== null && typeof s.counts === 'string')).toBe(true);
      expect(a.segmentations.slice(4).every((s) => s === null)).toBe(true);
      expect(a.scores!.slice(0, 4).every((s) => typeof s === 'number' && s >= 0 && s <= 1)).toBe(true);
    }
    // Object 1 was prompted with a mask: its frame-0 output is that mask (through the 64x64 logits).
    const m0 = decodeMask(j.annotations[0]!.segmentations[0]!);
    const want = readPngMask(AQ_MASK).mask;
    let i = 0;
    let u = 0;
    for (let k = 0; k < want.length; k++) {
      if (m0[k] && want[k]) i++;
      if (m0[k] || want[k]) u++;
    }
    expect(i / u).toBeGreaterThan(0.75);
  });

  it('cineseg eval scores a file against itself as perfect', async () => {
    const r = await cineseg(['eval', '--pred', out, '--gt', out, '--json']);
    expect(r.code).toBe(0);
    const e = JSON.parse(r.stdout) as { objects: { objectId: number; J: number; F: number; JF: number }[]; mean: { JF: number } };
    expect(e.objects.map((o) => o.objectId)).toEqual([1, 2]);
    expect(e.mean.JF).toBe(1);
    const table = await cineseg(['eval', '--pred', out, '--gt', out]);
    expect(table.stdout).toMatch(/^\s+mean\s+1\.000\s+1\.000\s+1\.000$/m);
  });

  it('tracks in reverse from a later prompt', async () => {
    const rev = join(tmp, 'rev.json');
    const r = await cineseg(['track', AQ, ...model, '--point', '3:681,245', '--reverse', '--max-frames', '2', '--out', rev]);
    expect(r.code).toBe(0);
    const segs = (JSON.parse(readFileSync(rev, 'utf8')) as VisJson).annotations[0]!.segmentations;
    expect(segs.map((s, k) => (s ? k : -1)).filter((k) => k >= 0)).toEqual([1, 2, 3]);
  });
});

describe('cineseg track --support (zero-click from annotated clips)', () => {
  const GEN = join(REPO_ROOT, 'samples', 'generated');
  const target = join(GEN, 'endoscopy-1');
  const sup = join(GEN, 'endoscopy-2');
  const have = existsSync(join(target, 'gt.json')) && existsSync(join(sup, 'gt.json'));

  it('needs --support for --support-frames / --support-object, and a <clip>:<masks.json> value (E_USAGE)', async () => {
    const a = await cineseg(['track', AQ, ...model, '--point', '0:1,1', '--support-frames', '2', '--out', join(tmp, 'x.json')]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^E_USAGE: --support-frames, --support-object and --no-support-mirror need --support/m);
    const b = await cineseg(['track', AQ, ...model, '--support', 'clip-without-masks', '--out', join(tmp, 'x.json')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^E_USAGE: --support "clip-without-masks": expected <clip>:<masks.json>/m);
    const c = await cineseg(['track', AQ, ...model, '--support', `${AQ}:x.json`, '--support-object', 'a=1', '--out', join(tmp, 'x.json')]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/^E_USAGE: --support-object "a=1"/m);
  });

  it('reports a missing support clip (E_INPUT_NOT_FOUND)', async () => {
    const r = await cineseg(['track', AQ, ...model, '--support', `${join(tmp, 'nope.mp4')}:${join(sup, 'gt.json')}`, '--out', join(tmp, 'x.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_INPUT_NOT_FOUND: /m);
  });

  it.runIf(have)('reports support masks of another size than their clip (E_MASK_INVALID)', async () => {
    // endoscopy-2's masks are 480x360, the aquarium clip is 800x360.
    const r = await cineseg(['track', AQ, ...model, '--support', `${AQ}:${join(sup, 'gt.json')}`, '--out', join(tmp, 'x.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_MASK_INVALID: /m);
  });

  it.runIf(have && hasTrainedBundle)(
    'tracks an object with no prompt from one annotated clip, and cineseg eval scores it',
    async () => {
      const out = join(tmp, 'support.json');
      const r = await cineseg(
        ['track', join(target, 'clip.mp4'), '--support', `${join(sup, 'clip.mp4')}:${join(sup, 'gt.json')}`, '--support-object', '1', '--support-frames', '1', '--ep', 'cpu', '--out', out],
        tmp,
      );
      // One frame and its mirrored view (the default).
      expect(r.stderr).toMatch(/support: 2 memories \(object 1: 2\)/);
      expect(r.code).toBe(0);
      const j = JSON.parse(readFileSync(out, 'utf8')) as VisJson;
      expect(j.annotations.map((a) => a.object_id)).toEqual([1]);
      expect(j.annotations[0]!.segmentations.every((s) => s !== null)).toBe(true);
      const e = await cineseg(['eval', '--pred', out, '--gt', join(target, 'gt.json'), '--json']);
      expect(e.code).toBe(0);
      // Measured J&F 0.96 (tiny-synth-256); an empty prediction scores 0.
      expect((JSON.parse(e.stdout) as { mean: { JF: number } }).mean.JF).toBeGreaterThan(0.8);
    },
    180_000,
  );

  it.runIf(have && hasTrainedBundle)(
    '--support-by category pools every support object of a category into object <category id>',
    async () => {
      const out = join(tmp, 'support-cat.json');
      // endoscopy-2 has two polyps (objects 1 and 2, both category 1 "polyp"): one target object 1,
      // one frame each, no mirrored views.
      const r = await cineseg(
        [
          'track',
          join(target, 'clip.mp4'),
          '--support',
          `${join(sup, 'clip.mp4')}:${join(sup, 'gt.json')}`,
          '--support-by',
          'category',
          '--support-frames',
          '1',
          '--no-support-mirror',
          '--ep',
          'cpu',
          '--out',
          out,
        ],
        tmp,
      );
      expect(r.stderr).toMatch(/support: 2 memories \(object 1: 2\)/);
      expect(r.code).toBe(0);
      const j = JSON.parse(readFileSync(out, 'utf8')) as VisJson;
      expect(j.annotations.map((a) => a.object_id)).toEqual([1]);
      const bad = await cineseg(['track', join(target, 'clip.mp4'), '--support', `${join(sup, 'clip.mp4')}:${join(sup, 'gt.json')}`, '--support-by', 'colour', '--out', out], tmp);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^E_USAGE: --support-by must be id or category/m);
    },
    180_000,
  );
});
