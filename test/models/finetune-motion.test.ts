/**
 * The fine-tune trainer's simulated camera drift (models/finetune/run.py camera_path, shift_stack,
 * WindowSampler with p_motion): the real sampler on a clip whose every frame shows its own mask as
 * white on black, with an encoder stand-in that returns its input, so what the model would see can
 * be read back. Frames and masks must move together (a window whose frames moved and masks did not
 * would train the model on the wrong object), mirrored windows included; frame 0 stays where it
 * is (the prompt frame); the drift stays within a quarter of the frame; without p_motion nothing
 * moves.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function python(script: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/usr/bin/python3', ['-c', script], { cwd: REPO, encoding: 'utf8', env: { ...process.env, PYTHONPATH: REPO }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SCRIPT = (pMotion: number) => `
import json, os, shutil, tempfile
import numpy as np, torch
from models.finetune.run import CachedClip, WindowSampler
from models.tiny import infer as I

S, T = 256, 24
d = tempfile.mkdtemp()
yy, xx = np.mgrid[0:S, 0:S]
masks = np.zeros((1, T, S, S), np.uint8)
for t in range(T):  # a disc moving right, 1 px a frame, off-centre so that a mirror changes it
    masks[0, t] = ((yy - 120) ** 2 + (xx - 80 - t) ** 2 <= 400).astype(np.uint8)
frames = np.repeat((masks[0] * 255)[..., None], 3, axis=-1)
frames.tofile(os.path.join(d, "f.raw")); masks.tofile(os.path.join(d, "m.raw"))
own = [masks[0, t] for t in range(T)] + [masks[0, t, :, ::-1] for t in range(T)]

class Identity:
    def encode_image(self, x):  # what the encoder is given, un-normalised back to [0, 1]
        x = x * I.STD + I.MEAN
        return x, x, x

entry = {"name": "c", "numFrames": T, "objects": [1], "frames": os.path.join(d, "f.raw"),
         "masks": os.path.join(d, "m.raw"), "trainFrames": [0, T]}
clip = CachedClip(entry, S, Identity(), True, torch.float32, cache=False)
sampler = WindowSampler([clip], np.random.default_rng(3), ${pMotion})
worst, moved, first_moved, max_off = 0.0, 0, 0, 0
for w in range(40):
    (vf, _, _), m = sampler.window(8, 1, grad_from=3 if w % 2 else 0)  # with and without a burn-in split
    seen = (vf[:, 0].numpy() > 0.4).astype(np.uint8)
    unmoved = [any((m[0, t] == o).all() for o in own) for t in range(m.shape[1])]
    for t in range(m.shape[1]):
        union = np.logical_or(seen[t], m[0, t]).sum()
        worst = max(worst, 1.0 - np.logical_and(seen[t], m[0, t]).sum() / max(union, 1))
        max_off = max(max_off, abs(float(np.nonzero(m[0, t])[0].mean()) - 120))
    moved += not all(unmoved)
    first_moved += not unmoved[0]
shutil.rmtree(d)
print(json.dumps({"worstMismatch": float(worst), "movedWindows": moved, "firstFrameMoved": first_moved, "maxOffsetY": max_off}))
`;

interface Windows {
  worstMismatch: number;
  movedWindows: number;
  firstFrameMoved: number;
  maxOffsetY: number;
}

/** 40 windows of the real sampler with this share of drifting windows, summarised. */
function sampleWindows(pMotion: number): Windows {
  const r = python(SCRIPT(pMotion));
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Windows;
}

describe('finetune camera drift (models/finetune/run.py)', () => {
  it('moves frames and masks together, and only in the share of windows asked for', () => {
    const on = sampleWindows(1);
    // What the encoder is given and the mask trained against cover the same pixels.
    expect(on.worstMismatch).toBeLessThan(0.05);
    // Nearly every window drifts, never its prompt frame, and never further than S/4 (64 px).
    expect(on.movedWindows).toBeGreaterThanOrEqual(35);
    expect(on.firstFrameMoved).toBe(0);
    expect(on.maxOffsetY).toBeGreaterThan(4);
    expect(on.maxOffsetY).toBeLessThanOrEqual(64.5);

    const off = sampleWindows(0);
    expect(off.worstMismatch).toBeLessThan(0.05);
    expect(off.movedWindows).toBe(0);
    expect(off.maxOffsetY).toBeLessThanOrEqual(0.5);
  }, 120_000);
});
