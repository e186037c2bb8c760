/**
 * `cineseg finetune` end to end on a small budget, through the built CLI: real clips from the
 * sample generator, the real trainer (PyTorch), the real exporter, onnxruntime validation.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVisJson } from '../../../engine/src/mask/vis-json.js';
import { writeClip } from '../../../samples/src/clip-writer.js';
import { REPO_ROOT, TRAINED_BUNDLE } from '../model/test-bundle.js';
import { CLI, cineseg, ensureBuilt } from '../cli/track-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cineseg-finetune-'));
const clipsDir = join(tmp, 'clips');
// Seeds of their own (>= 1000 are training seeds; nothing else uses 7100-7101).
const A = join(clipsDir, 'ultrasound-7100');
const B = join(clipsDir, 'endoscopy-7101');

beforeAll(async () => {
  await ensureBuilt();
  await writeClip({ kind: 'ultrasound', seed: 7100, width: 320, height: 240, fps: 30, frames: 40 }, clipsDir, { skipExisting: false });
  await writeClip({ kind: 'endoscopy', seed: 7101, width: 320, height: 240, fps: 30, frames: 40 }, clipsDir, { skipExisting: false });
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('cineseg finetune', () => {
  it('trains, validates, writes a bundle with provenance that loads and tracks', async () => {
    const out = join(tmp, 'site-bundle');
    const r = await cineseg(['finetune', '--data', `${A}/clip.mp4:${A}/gt.json`, '--data', `${B}/gt.json`, '--steps', '40', '--minutes', '0', '--out', out]);
    expect(r.stderr + r.stdout).not.toMatch(/^E_/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/validation \(held-out frames, J&F, base -> fine-tuned\):/);
    expect(r.stdout).toMatch(/wrote .*site-bundle/);
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const base = JSON.parse(readFileSync(join(TRAINED_BUNDLE, 'manifest.json'), 'utf8'));
    // Same contract as the base: config, size, graphs.
    expect(m.config).toBe(base.config);
    expect(m.imageSize).toBe(base.imageSize);
    expect(Object.keys(m.graphs).sort()).toEqual(Object.keys(base.graphs).sort());
    const ad = m.adaptation;
    expect(ad.base.checkpointSha256).toBe(base.source.sha256);
    expect(ad.clips).toHaveLength(2);
    for (const c of ad.clips) {
      expect(c.contentHash).toMatch(/^[0-9a-f]{64}$/);
      expect(c.numFrames).toBe(40);
      expect(c.trainFrames).toEqual([0, 30]);
    }
    expect(ad.hyperparameters).toMatchObject({ mode: 'lora', encoder: 'train', steps: 40, seed: 0, rank: 8, motionAug: 0.5 });
    expect(ad.steps).toBe(40);
    expect(ad.trainSeconds).toBeGreaterThan(0);
    // The loss on the same fixed windows falls with training.
    expect(ad.loss.fixedWindowsAfter).toBeLessThan(ad.loss.fixedWindowsBefore);
    expect(ad.validation.items.length).toBeGreaterThanOrEqual(2);
    expect(ad.validation.after.mean).toBeGreaterThanOrEqual(ad.validation.before.mean);
    // The merged weights ride along (a later finetune starts from them) and match source.sha256.
    expect(existsSync(join(out, 'checkpoint.pt'))).toBe(true);
    // The new bundle loads and tracks through the ordinary command.
    const pred = join(tmp, 'pred.json');
    const t = await cineseg(['track', `${A}/clip.mp4`, '--model', out, '--mask', `0:${A}/mask-obj1-f0.png`, '--out', pred]);
    expect(t.stderr).not.toMatch(/^E_/m);
    expect(t.code).toBe(0);
    const vis = readVisJson(pred);
    expect(vis.info?.model).toBe(m.name);
    const e = await cineseg(['eval', '--pred', pred, '--gt', `${A}/gt.json`, '--json']);
    expect(e.code).toBe(0);
    // Only object 1 was prompted; its track must be a real one.
    const scores = JSON.parse(e.stdout) as { objects: { objectId: number; JF: number }[] };
    expect(scores.objects.find((o) => o.objectId === 1)!.JF).toBeGreaterThan(0.7);
  }, 900_000);

  it('refuses a bundle that got worse (E_TRAIN_WORSE) and writes nothing', async () => {
    const out = join(tmp, 'worse');
    // A learning rate far too high for full fine-tuning wrecks the decoder in a few steps.
    const r = await cineseg(['finetune', '--data', `${A}/clip.mp4:${A}/gt.json`, '--mode', 'full', '--lr', '0.5', '--steps', '6', '--encoder', 'frozen', '--minutes', '0', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_TRAIN_WORSE: the fine-tuned model scored J&F [0-9.]+ on validation, the base [0-9.]+/m);
    expect(existsSync(out)).toBe(false);
  }, 600_000);

  it('Ctrl-C keeps a resumable checkpoint; --resume goes on from it', async () => {
    const out = join(tmp, 'resumed');
    const args = [CLI, 'finetune', '--data', `${A}/clip.mp4:${A}/gt.json`, '--steps', '60', '--minutes', '0', '--encoder', 'frozen', '--force', '--out', out];
    const first = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolveP) => {
      const p = spawn(process.execPath, args, { cwd: tmp });
      let stdout = '';
      let stderr = '';
      let sent = false;
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // the first progress line (step 25) means training is under way
        if (!sent && /finetune step 25\/60/.test(stderr)) {
          sent = true;
          p.kill('SIGINT');
        }
      });
      p.on('close', (code) => resolveP({ code, stdout, stderr }));
    });
    expect(first.code).toBe(130);
    expect(first.stdout).toMatch(/^interrupted: checkpoint kept in .*resumed\.work; run the same command with --resume/m);
    expect(existsSync(join(`${out}`, 'manifest.json'))).toBe(false);
    expect(existsSync(join(`${out}.work`, 'trainer', 'last.pt'))).toBe(true);
    const second = await cineseg([...args.slice(1), '--resume']);
    expect(second.stderr).not.toMatch(/^E_/m);
    expect(second.code).toBe(0);
    const step = Number(/finetune: resuming from step (\d+)/.exec(second.stderr)?.[1]);
    expect(step).toBeGreaterThanOrEqual(25);
    expect(step).toBeLessThan(60);
    // only the remaining steps ran: the progress lines start after the resumed step
    expect(second.stderr).not.toMatch(/finetune step 25\/60/);
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).adaptation.steps).toBe(60);
  }, 900_000);

  it('rejects bad input before training, with a coded error', async () => {
    const gt = JSON.parse(readFileSync(`${A}/gt.json`, 'utf8'));
    // masks of another size than the video
    const wrong = structuredClone(gt);
    const seg = wrong.annotations[0].segmentations.find((s: unknown) => s);
    seg.size = [100, 100];
    writeFileSync(join(tmp, 'wrong-size.json'), JSON.stringify(wrong));
    // a mask past the clip's end
    const long = structuredClone(gt);
    long.annotations[0].segmentations.push(...long.annotations[0].segmentations.slice(0, 5));
    writeFileSync(join(tmp, 'too-long.json'), JSON.stringify(long));
    // no annotation at all
    writeFileSync(join(tmp, 'empty.json'), JSON.stringify({ ...gt, annotations: [] }));
    const cases: [string[], RegExp][] = [
      [['--data', `${A}/clip.mp4:${join(tmp, 'wrong-size.json')}`], /^E_MASK_INVALID: .*mask is 100x100, the video .* is 320x240/m],
      [['--data', `${A}/clip.mp4:${join(tmp, 'too-long.json')}`], /^E_FRAME_OUT_OF_RANGE: .*has a mask on frame 4\d, but .* has 40 frames/m],
      [['--data', `${A}/clip.mp4:${join(tmp, 'empty.json')}`], /^E_INPUT_EMPTY: .*no annotations/m],
      [['--data', `${join(tmp, 'missing.mp4')}:${A}/gt.json`], /^E_INPUT_NOT_FOUND: clip .*missing\.mp4/m],
      [['--data', `${A}/clip.mp4`], /^E_USAGE: --data ".*clip\.mp4": expected <clip>:<masks\.json>/m],
      [['--data', `${A}/clip.mp4:${A}/gt.json`, '--base', TRAINED_BUNDLE, '--out', TRAINED_BUNDLE], /^E_USAGE: --out .* is the base bundle/m],
      [['--data', `${A}/clip.mp4:${A}/gt.json`, '--checkpoint', join(REPO_ROOT, 'package.json')], /^E_BASE_CHECKPOINT: package\.json: sha256 differs/m],
      [['--data', `${A}/clip.mp4:${A}/gt.json`, '--motion-aug', '1.5'], /^E_USAGE: --motion-aug must be in \[0, 1\], got 1\.5/m],
    ];
    for (const [args, re] of cases) {
      const r = await cineseg(['finetune', ...args, ...(args.includes('--out') ? [] : ['--out', join(tmp, 'never')])]);
      expect(r.stderr).toMatch(re);
      expect(r.code).not.toBe(0);
      expect(existsSync(join(tmp, 'never'))).toBe(false);
    }
  }, 300_000);
});
