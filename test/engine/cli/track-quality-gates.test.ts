/**
 * Regression gates of the shipped model (models/tiny/bundle, the default) on every held-out sample
 * clip (samples/generated, seeds 1–3, never used in training) and every prompt kind the clip's
 * prompts.json offers (mask, click, box): `cineseg track` then `cineseg eval`, as a user runs them.
 * Each (clip, kind) must stay within MARGIN of the J&F measured when the gate was set (the table
 * below, also in docs/benchmarks.md); memory must be worth >= 0.15 J&F with mask prompts.
 *
 * The gates sit at the measured level on purpose, not at the issue's 0.85 target: several (clip,
 * kind) pairs are below the target (docs/benchmarks.md says which), and a gate at the target would
 * either fail today or, lowered to pass, stop catching regressions. A new held-out clip without a
 * row here fails the table check, so the gates cannot silently skip it.
 *
 * CINESEG_TEST_MODEL=<bundle> gates a candidate bundle against the same levels;
 * CINESEG_QUALITY_MIN=0.85 replaces every gate by one floor (a candidate against the target).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TRAINED_BUNDLE } from '../model/test-bundle.js';
import { cineseg, ensureBuilt } from './track-helpers.js';

type Kind = 'mask' | 'point' | 'box';
const KINDS: readonly Kind[] = ['mask', 'point', 'box'];

/**
 * J&F with memory per prompt kind, and with mask prompts under `--no-memory`, measured on the
 * shipped bundle (stage 3) on the CPU; every annotated object prompted on frame 0.
 */
const MEASURED: Record<string, Record<Kind | 'maskNoMemory', number>> = {
  'ultrasound-1': { mask: 0.816, point: 0.752, box: 0.645, maskNoMemory: 0.117 },
  'ultrasound-2': { mask: 0.862, point: 0.859, box: 0.86, maskNoMemory: 0.164 },
  'ultrasound-3': { mask: 0.891, point: 0.891, box: 0.891, maskNoMemory: 0.149 },
  'endoscopy-1': { mask: 0.966, point: 0.966, box: 0.966, maskNoMemory: 0.186 },
  'endoscopy-2': { mask: 0.708, point: 0.699, box: 0.702, maskNoMemory: 0.074 },
  'endoscopy-3': { mask: 0.894, point: 0.524, box: 0.505, maskNoMemory: 0.048 },
};
/** Room for onnxruntime's thread-count-dependent rounding, not for a worse model. */
const MARGIN = 0.02;
const FLOOR = process.env.CINESEG_QUALITY_MIN ? Number(process.env.CINESEG_QUALITY_MIN) : undefined;
const gate = (clip: string, kind: Kind): number => FLOOR ?? MEASURED[clip]![kind] - MARGIN;

const GENERATED = join(REPO_ROOT, 'samples', 'generated');
/** Every held-out video clip the sample generator made (the CT volume has no clip.mp4). */
const clips = existsSync(GENERATED)
  ? readdirSync(GENERATED)
      .filter((d) => existsSync(join(GENERATED, d, 'clip.mp4')) && existsSync(join(GENERATED, d, 'prompts.json')))
      .sort()
  : [];

interface Prompts {
  objects: { object_id: number; args: Record<Kind, [string, string]> }[];
}

let tmp: string;
beforeAll(async () => {
  // Not a skip: the bundle is committed and global-setup makes the clips, so their absence is a failure.
  expect(existsSync(join(TRAINED_BUNDLE, 'manifest.json')), 'models/tiny/bundle is missing').toBe(true);
  await ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'cineseg-gates-'));
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `cineseg track` from the clip's prompts of one kind, scored by `cineseg eval`: mean J&F. */
async function trackJf(clip: string, kind: Kind, extra: string[] = []): Promise<number> {
  const dir = join(GENERATED, clip);
  const prompts = JSON.parse(readFileSync(join(dir, 'prompts.json'), 'utf8')) as Prompts;
  const args: string[] = [];
  for (const o of prompts.objects) {
    const [flag, value] = o.args[kind];
    // A mask prompt names a PNG beside prompts.json: make it absolute (the CLI runs in /tmp).
    const v = kind === 'mask' ? `${value.slice(0, value.indexOf(':'))}:${join(dir, value.slice(value.indexOf(':') + 1))}` : value;
    args.push('--object', String(o.object_id), flag, v);
  }
  const model = process.env.CINESEG_TEST_MODEL ? ['--model', process.env.CINESEG_TEST_MODEL] : [];
  const out = join(tmp, `${clip}-${kind}${extra.join('')}.json`);
  const t = await cineseg(['track', join(dir, 'clip.mp4'), ...model, ...args, ...extra, '--out', out]);
  if (t.code !== 0) throw new Error(`track ${clip} (${kind}) failed (${t.code}): ${t.stderr}`);
  const e = await cineseg(['eval', '--pred', out, '--gt', join(dir, 'gt.json'), '--json']);
  if (e.code !== 0) throw new Error(`eval ${clip} (${kind}) failed (${e.code}): ${e.stderr}`);
  const jf = (JSON.parse(e.stdout) as { mean: { JF: number } }).mean.JF;
  process.stderr.write(`gate ${clip} ${kind}${extra.length ? ` ${extra.join(' ')}` : ''}: J&F ${jf.toFixed(3)}\n`);
  return jf;
}

describe('quality gates of the shipped model on the held-out clips', () => {
  it('has a measured row for every held-out clip, and only for those', () => {
    expect(clips.length).toBeGreaterThanOrEqual(6);
    expect(Object.keys(MEASURED).sort()).toEqual(clips);
  });

  const maskJf = new Map<string, number>();
  for (const clip of Object.keys(MEASURED)) {
    for (const kind of KINDS) {
      it(`${clip}, ${kind} prompts: J&F >= ${gate(clip, kind).toFixed(3)}`, async () => {
        const jf = await trackJf(clip, kind);
        if (kind === 'mask') maskJf.set(clip, jf);
        expect(jf).toBeGreaterThanOrEqual(gate(clip, kind));
      }, 180_000);
    }
    it(`${clip}: memory is worth >= 0.15 J&F (mask prompts)`, async () => {
      const without = await trackJf(clip, 'mask', ['--no-memory']);
      const withMemory = maskJf.get(clip) ?? (await trackJf(clip, 'mask'));
      expect(withMemory - without).toBeGreaterThanOrEqual(0.15);
    }, 180_000);
  }
});
