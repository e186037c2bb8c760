"""Train the tiny SAM 2.1 model (`tiny-synth`) on synthetic clips, CPU only.

Run from the repository root:
    /usr/bin/python3 -m models.tiny.train --seed 0 --minutes 45 --out models/tiny/work/run

Two phases, following the SAM 2 recipe at toy scale:
1. image phase: single frames, prompted by a click, clicks (with negatives) or a box, plus one
   corrective click fed with the previous logits as mask input (the SAM interactive loop);
2. video phase: sequences of L frames (random clip, object, start, direction and stride).
   Frame 0 is an initial conditioning frame prompted by a click, clicks, a box or the GT mask
   (mask-as-output); later frames are conditioned on the memory bank exactly as the engine
   selects it and decoded without prompt; memory comes from the model's own predictions so it
   learns to recover from its mistakes; sometimes a later frame gets a corrective click and
   becomes a conditioning frame. Gradients flow through the whole sequence.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.tiny import data as D
from models.tiny import infer as I
from models.tiny.losses import frame_loss

S = D.IMAGE_SIZE
PROMPT_KINDS = ("click", "clicks", "box", "mask")
LOSS_RES = 128  # masks are compared at this size (SAM 2 uses the full image size; CPU budget)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------------------------
class Sampler:
    def __init__(self, clips: D.ClipSet, rng: np.random.Generator):
        self.c = clips
        self.rng = rng
        # (object, t) where presence (any mask pixel) differs between frames t and t+1
        self.transitions: List[np.ndarray] = []
        for m in clips.masks:
            present = m.reshape(m.shape[0], m.shape[1], -1).any(-1)  # [K, T]
            k, t = np.nonzero(present[:, 1:] != present[:, :-1])
            self.transitions.append(np.stack([k, t], 1))
        self.with_transitions = np.array([i for i, tr in enumerate(self.transitions) if len(tr)], dtype=np.int64)

    def sequence(self, L: int, max_objs: int, stride_max: int = 2,
                 p_transition: float = 0.0, grad_from: int = 0,
                 transition_clips: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """One clip: frames [L, S, S, 3] and masks [K, L, S, S] of up to max_objs objects that
        are visible on the first frame of the sequence (random start, direction and stride).
        With probability p_transition the window is placed over a frame where an object leaves
        or re-enters the field, so that the score head and the memory learn "gone" and "back".
        grad_from > 0 (a burn-in): the transition must fall in positions grad_from..L-1, and the
        stride is kept small so that the rollout looks like inference.
        transition_clips: a transition window is drawn from the clips that have one (otherwise
        the clip is drawn first, so p_transition is diluted by the clips without transitions)."""
        rng = self.rng
        want = transition_clips and p_transition > 0 and len(self.with_transitions) and rng.random() < p_transition
        for _ in range(100):
            if want:
                ci = int(self.with_transitions[int(rng.integers(len(self.with_transitions)))])
            else:
                ci = int(rng.integers(len(self.c)))
            vis = self.c.visible[ci]
            if len(vis) == 0:
                continue
            T = self.c.frames[ci].shape[0]
            if grad_from > 0:
                stride = 1 if rng.random() < 0.7 else 2
            elif stride_max <= 2:  # the original recipe's rule
                stride = 1 if rng.random() < 0.75 else 2
            else:
                stride = 1 if rng.random() < 0.5 else int(rng.integers(2, stride_max + 1))
            step = -stride if rng.random() < 0.5 else stride
            end = vis[:, 1] + step * (L - 1)
            ok = vis[(end >= 0) & (end < T)]
            trans = self.transitions[ci]
            if want or (not transition_clips and p_transition > 0 and len(trans) and rng.random() < p_transition):
                k, tt = trans[int(rng.integers(len(trans)))]
                a, b = ok[:, 1] + step * grad_from, ok[:, 1] + step * (L - 1)
                lo, hi = np.minimum(a, b), np.maximum(a, b)
                ok = ok[(ok[:, 0] == k) & (lo <= tt) & (hi >= tt + 1)]
                if len(ok) == 0:
                    continue
                t0 = ok[int(rng.integers(len(ok))), 1]
                others = np.setdiff1d(vis[vis[:, 1] == t0, 0], [k])
                objs = np.concatenate([[k], rng.permutation(others)])[:max_objs]
            else:
                if len(ok) == 0:
                    continue
                t0 = ok[int(rng.integers(len(ok))), 1]
                objs = np.unique(ok[ok[:, 1] == t0, 0])
                objs = rng.permutation(objs)[:max_objs]
            idx = t0 + step * np.arange(L)
            return self.c.frames[ci][idx], self.c.masks[ci][np.sort(objs)][:, idx]
        raise RuntimeError("no valid sequence found")

    def image(self) -> Tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        while True:
            ci = int(rng.integers(len(self.c)))
            vis = self.c.visible[ci]
            if len(vis):
                k, t = vis[int(rng.integers(len(vis)))]
                return self.c.frames[ci][t:t + 1], self.c.masks[ci][k, t:t + 1]


def augment(x: Tensor, m: Tensor, gen: torch.Generator, owner: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """x [B, L, 3, S, S] in [0, 1], m [Bo, L, S, S] (object o belongs to clip owner[o]; default
    o = clip). Per-clip horizontal flip and photometric jitter."""
    B = x.shape[0]
    flip = torch.rand(B, generator=gen) < 0.5
    fo = flip if owner is None else flip[owner]
    x = torch.where(flip.view(B, 1, 1, 1, 1), x.flip(-1), x)
    m = torch.where(fo.view(-1, 1, 1, 1), m.flip(-1), m)
    contrast = 0.75 + 0.5 * torch.rand(B, 1, 1, 1, 1, generator=gen)
    bright = 0.16 * (torch.rand(B, 1, 1, 1, 1, generator=gen) - 0.5)
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    x = ((x - mean) * contrast + mean + bright).clamp(0, 1)
    return x, m


def normalise(x: Tensor) -> Tensor:
    return (x - I.MEAN.unsqueeze(0)) / I.STD.unsqueeze(0) if x.dim() == 5 else (x - I.MEAN) / I.STD


def rand_pixel(mask: np.ndarray, rng: np.random.Generator) -> Optional[Tuple[float, float]]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    i = int(rng.integers(len(xs)))
    return float(xs[i]) + float(rng.random()), float(ys[i]) + float(rng.random())


def negative_pixel(mask: np.ndarray, rng: np.random.Generator) -> Tuple[float, float]:
    """A background pixel, usually near the object (where a user would click to exclude)."""
    ys, xs = np.nonzero(mask)
    if len(xs) and rng.random() < 0.7:
        x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
        mx, my = max(4, (x1 - x0) // 2), max(4, (y1 - y0) // 2)
        region = np.zeros_like(mask)
        region[max(0, y0 - my):min(S, y1 + my + 1), max(0, x0 - mx):min(S, x1 + mx + 1)] = 1
        region &= (mask == 0)
        p = rand_pixel(region, rng)
        if p is not None:
            return p
    p = rand_pixel((mask == 0).astype(np.uint8), rng)
    return p if p is not None else (0.0, 0.0)


def box_prompt(mask: np.ndarray, rng: np.random.Generator) -> List[Tuple[float, float]]:
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    w, h = x1 - x0, y1 - y0
    nx, ny = min(0.1 * w, 6.0), min(0.1 * h, 6.0)
    d = (2 * rng.random(4) - 1) * np.array([nx, ny, nx, ny])
    b = np.clip(np.array([x0, y0, x1, y1]) + d, 0, S - 1)
    return [(b[0], b[1]), (b[2], b[3])]


def make_prompt(kind: str, mask: np.ndarray, rng: np.random.Generator) -> Tuple[List, List]:
    if kind == "box":
        return box_prompt(mask, rng), [2.0, 3.0]
    pts, labels = [rand_pixel(mask, rng)], [1.0]
    if kind == "clicks":
        for _ in range(int(rng.integers(1, 3))):
            if rng.random() < 0.5:
                pts.append(negative_pixel(mask, rng))
                labels.append(0.0)
            else:
                pts.append(rand_pixel(mask, rng))
                labels.append(1.0)
    return pts, labels


def correction_click(pred: np.ndarray, gt: np.ndarray, rng: np.random.Generator) -> Tuple[Tuple[float, float], float]:
    """A click in the error region: positive on a missed pixel, negative on a false positive."""
    err = (pred != gt).astype(np.uint8)
    p = rand_pixel(err, rng)
    if p is None:
        p2 = rand_pixel(gt, rng)
        return (p2 if p2 is not None else negative_pixel(gt, rng)), (1.0 if p2 is not None else 0.0)
    return p, float(gt[min(int(p[1]), S - 1), min(int(p[0]), S - 1)])


def first_frame_prompts(kinds, masks0: np.ndarray, rng: np.random.Generator) -> Tuple[Tensor, Tensor]:
    """Padded point prompts for a window's first frame, one prompt kind per object (a mask
    prompt has no points: the mask goes in as mask input instead)."""
    pts, labels = [], []
    for b, k in enumerate(kinds):
        if k == "mask":
            pts.append([]), labels.append([])
        else:
            p, lab = make_prompt(k, masks0[b], rng)
            pts.append(p), labels.append(lab)
    return pad_points(pts, labels)


def pad_points(pts: List[List], labels: List[List]) -> Tuple[Tensor, Tensor]:
    n = max(max(len(p) for p in pts), 1)
    B = len(pts)
    pc = torch.zeros(B, n, 2)
    pl = -torch.ones(B, n)
    for b in range(B):
        for i, (xy, l) in enumerate(zip(pts[b], labels[b])):
            pc[b, i, 0], pc[b, i, 1] = float(xy[0]), float(xy[1])
            pl[b, i] = l
    return pc, pl


# ----------------------------------------------------------------------------------------------
# one decoded frame with mixed prompt modes in the batch
# ----------------------------------------------------------------------------------------------
def decode_and_loss(model, embed, h0, h1, pc, pl, mask_in, has_mask, multimask: Tensor,
                    target: Tensor, mask_weight: Optional[Tensor] = None):
    """Runs the decoder, computes the loss on the tokens each sample uses and picks the output.

    multimask [B] bool: tokens 1..3 (best predicted IoU) else token 0.
    Returns (loss dict, chosen low-res logits [B,1,4h,4w], chosen hr logits [B,1,S,S], ptr [B,C],
    obj_score [B,1]).
    """
    low, ious, ptrs, score = model.decode(embed, h0, h1, pc, pl, mask_in, has_mask)
    B = low.shape[0]
    R = LOSS_RES
    lr_all = I.upsample(low, (R, R)) if R != low.shape[-1] else low  # [B, 4, R, R]
    tgt = target if R == S else (F.adaptive_avg_pool2d(target, R) >= 0.5).float()
    losses = {}
    groups = [(multimask, slice(1, 4)), (~multimask, slice(0, 1))]
    for sel, toks in groups:
        if sel.any():
            idx = sel.nonzero()[:, 0]
            mw = None if mask_weight is None else mask_weight[idx]
            l = frame_loss(lr_all[idx, toks], ious[idx, toks], score[idx], tgt[idx], mw)
            for k, v in l.items():
                losses[k] = losses.get(k, 0.0) + v * (len(idx) / B)
    with torch.no_grad():
        best = ious[:, 1:].argmax(-1) + 1
        k = torch.where(multimask, best, torch.zeros_like(best))
    ar = torch.arange(B)
    low_k = low[ar, k].unsqueeze(1)
    return losses, low_k, I.upsample(low_k, (S, S)), ptrs[ar, k], score


def add_losses(acc: Dict, l: Dict, w: float = 1.0):
    for k, v in l.items():
        acc[k] = acc.get(k, 0.0) + v * w


# ----------------------------------------------------------------------------------------------
# training steps
# ----------------------------------------------------------------------------------------------
def image_step(model, sampler: Sampler, B: int, rng, gen) -> Dict:
    xs, ms = zip(*[sampler.image() for _ in range(B)])
    x = torch.from_numpy(np.stack(xs)).permute(0, 1, 4, 2, 3).float() / 255.0  # [B,1,3,S,S]
    m = torch.from_numpy(np.stack(ms)).float()  # [B,1,S,S]
    x, m = augment(x, m, gen)
    masks_np = m[:, 0].numpy().astype(np.uint8)
    vf, h0, h1 = model.encode_image(normalise(x[:, 0]))
    C = vf.shape[1]
    embed = vf + model.no_mem_embed.reshape(1, C, 1, 1)
    kinds = rng.choice(["click", "clicks", "box"], size=B, p=[0.45, 0.25, 0.30])
    pts, labels = zip(*[make_prompt(k, masks_np[b], rng) for b, k in enumerate(kinds)])
    pts, labels = list(pts), list(labels)
    pc, pl = pad_points(pts, labels)
    multimask = torch.tensor([k == "click" for k in kinds])
    target = m[:, 0:1]
    zeros_in = torch.zeros(B, 1, S // 4, S // 4)
    acc: Dict = {}
    l, low, hr, _, _ = decode_and_loss(model, embed, h0, h1, pc, pl, zeros_in, torch.zeros(B), multimask, target)
    add_losses(acc, l)
    # one corrective click with the previous logits as mask input (the SAM interactive loop)
    pred = (hr[:, 0] > 0).numpy()
    for b in range(B):
        xy, lab = correction_click(pred[b], masks_np[b].astype(bool), rng)
        pts[b] = list(pts[b]) + [xy]
        labels[b] = list(labels[b]) + [lab]
    pc, pl = pad_points(pts, labels)
    l, _, _, _, _ = decode_and_loss(model, embed, h0, h1, pc, pl, low.detach().clamp(-32, 32),
                                    torch.ones(B), torch.zeros(B, dtype=torch.bool), target)
    add_losses(acc, l)
    return {k: v / 2 for k, v in acc.items()}


def video_step(model, sampler: Sampler, Bc: int, L: int, rng, gen, p_correct: float, max_objs: int = 2,
               prompt_p=(0.3, 0.2, 0.25, 0.25), stride_max: int = 2, p_transition: float = 0.0,
               burn_in: int = 0, transition_clips: bool = False) -> Dict:
    """Bc clips x up to max_objs objects each; objects share their clip's image features (as in
    SAM 2 training) but have their own memory bank.

    burn_in > 0: the model first tracks burn_in frames without gradient from the prompt (its own
    predictions fill the memory bank, as at inference), and only the last L frames are trained.
    This is where held-out clips fail: an exit 30+ frames after the prompt, with a memory full of
    the visible structure, which a short window from the prompt never shows."""
    nb = burn_in
    L = L + nb
    seqs = [sampler.sequence(L, max_objs, stride_max, p_transition, grad_from=nb,
                             transition_clips=transition_clips) for _ in range(Bc)]
    owner = torch.tensor([c for c, s in enumerate(seqs) for _ in range(s[1].shape[0])])
    x = torch.from_numpy(np.stack([s[0] for s in seqs])).permute(0, 1, 4, 2, 3).float() / 255.0
    m = torch.from_numpy(np.concatenate([s[1] for s in seqs])).float()  # [B, L, S, S]
    x, m = augment(x, m, gen, owner)
    B = m.shape[0]
    masks_np = m.numpy().astype(np.uint8)
    xn = normalise(x)
    if nb > 0:
        with torch.no_grad():
            parts = [model.encode_image(xn[:, :nb].flatten(0, 1))]
        parts = [tuple(p.unflatten(0, (Bc, nb)) for p in parts[0]),
                 tuple(p.unflatten(0, (Bc, L - nb)) for p in model.encode_image(xn[:, nb:].flatten(0, 1)))]
        vf, h0, h1 = (torch.cat([a, b], 1).flatten(0, 1) for a, b in zip(*parts))
    else:
        vf, h0, h1 = model.encode_image(xn.flatten(0, 1))  # [Bc*L, ...]
    C = vf.shape[1]
    vf = vf.unflatten(0, (Bc, L))[owner]  # [B, L, C, h, w]
    h0 = h0.unflatten(0, (Bc, L))[owner]
    h1 = h1.unflatten(0, (Bc, L))[owner]
    no_mem = model.no_mem_embed.reshape(1, C, 1, 1)
    zeros_in = torch.zeros(B, 1, S // 4, S // 4)

    mems: Dict[int, Tensor] = {}
    ptrs: Dict[int, Tensor] = {}
    cond = [0]
    corr_t = int(rng.integers(nb + 2, L)) if (L - nb > 2 and rng.random() < p_correct) else -1
    acc: Dict = {}
    n_terms = 0
    for t in range(L):
        burning = t < nb
        acc_t: Dict = {} if burning else acc  # burn-in losses are computed and dropped
        with torch.no_grad() if burning else contextlib.nullcontext():
            target = m[:, t:t + 1]
            if t == 0:
                embed = vf[:, 0] + no_mem
                kinds = rng.choice(PROMPT_KINDS, size=B, p=list(prompt_p))
                is_mask = torch.tensor([k == "mask" for k in kinds])
                pc, pl = first_frame_prompts(kinds, masks_np[:, 0], rng)
                mask_in = torch.where(is_mask.view(B, 1, 1, 1), model.mask_downsample(target), zeros_in)
                # `_use_mask_as_output` runs the decoder (for the pointer only) on the RAW features
                embed = torch.where(is_mask.view(B, 1, 1, 1), vf[:, 0], embed)
                multimask = torch.tensor([k == "click" for k in kinds])
                l, low, hr, ptr, score = decode_and_loss(model, embed, h0[:, 0], h1[:, 0], pc, pl, mask_in,
                                                         is_mask.float(), multimask, target,
                                                         mask_weight=(~is_mask).float())
                add_losses(acc_t, l)
                n_terms += t >= nb
                # mask prompt: output = mask, presence from the mask; clicks: binarised for memory
                hr = torch.where(is_mask.view(B, 1, 1, 1), target * 20.0 - 10.0, hr)
                mem_in = torch.where(is_mask.view(B, 1, 1, 1), target, (hr > 0).float())
                mscore = torch.where(is_mask.view(B, 1), torch.full_like(score, 10.0), score)
            else:
                memory, mt, op, opt = I.select_memory(t, cond, mems, ptrs, False, I.MAX_PTRS)
                embed = model.condition(vf[:, t], memory, mt, op, opt)
                pc, pl = I.no_prompt(B)
                mm = torch.ones(B, dtype=torch.bool)
                l, low, hr, ptr, score = decode_and_loss(model, embed, h0[:, t], h1[:, t], pc, pl, zeros_in,
                                                         torch.zeros(B), mm, target)
                add_losses(acc_t, l)
                n_terms += t >= nb
                mem_in = torch.sigmoid(hr)
                mscore = score
                if t == corr_t:
                    pred = (hr[:, 0] > 0).detach().numpy()
                    cp, cl = [], []
                    for b in range(B):
                        xy, lab = correction_click(pred[b], masks_np[b, t].astype(bool), rng)
                        cp.append([xy]), cl.append([lab])
                    pc, pl = pad_points(cp, cl)
                    l, low, hr, ptr, score = decode_and_loss(model, embed, h0[:, t], h1[:, t], pc, pl,
                                                             low.clamp(-32, 32), torch.ones(B), mm, target)
                    add_losses(acc_t, l)
                    n_terms += t >= nb
                    mem_in = (hr > 0).float()
                    mscore = score
                    cond.append(t)
            mems[t] = model.encode_memory(vf[:, t], mem_in, mscore)
            ptrs[t] = ptr
    return {k: v / n_terms for k, v in acc.items()}


# ----------------------------------------------------------------------------------------------
# validation: short forward tracking on held-in clips, mask prompt on the first visible frame
# ----------------------------------------------------------------------------------------------
def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    u = np.logical_or(pred, gt).sum()
    return 1.0 if u == 0 else float(np.logical_and(pred, gt).sum() / u)


def validate(model, clips: D.ClipSet, n_frames: int = 16, max_objs: int = 2) -> Dict[str, float]:
    model.eval()
    res: Dict[str, List[float]] = {}
    for ci in range(len(clips)):
        kind = clips.names[ci].split("-")[0]
        fr, ms = clips.frames[ci], clips.masks[ci]
        for k in range(min(max_objs, ms.shape[0])):
            vis = np.nonzero(ms[k].reshape(ms.shape[1], -1).sum(-1) >= 12)[0]
            if len(vis) == 0:
                continue
            t0 = int(vis[0])
            seg = slice(t0, min(t0 + n_frames, fr.shape[0]))
            for mode, prompt in (("mask", {"mask": ms[k, t0]}),):
                pred = I.track(model, fr[seg], prompt)
                js = [jaccard(pred[i], ms[k, seg][i] > 0) for i in range(1, pred.shape[0])]
                res.setdefault(kind, []).append(float(np.mean(js)))
    model.train()
    return {k: float(np.mean(v)) for k, v in res.items()}


# ----------------------------------------------------------------------------------------------
def lr_at(step: int, total: int, base: float, warmup: int, time_frac: float = 0.0) -> float:
    """Linear warm-up then cosine to 2 %; progress is the larger of the step and wall-time
    fractions so a run cut by --minutes still ends at a low learning rate."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, max((step - warmup) / max(1, total - warmup), time_frac))
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p)))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="models/tiny/work/run")
    ap.add_argument("--data", default="models/tiny/work/data.json", help="JSON list of cached .npz (train/val)")
    ap.add_argument("--image-steps", type=int, default=300)
    ap.add_argument("--video-steps", type=int, default=1500)
    ap.add_argument("--image-batch", type=int, default=16)
    ap.add_argument("--batch", type=int, default=3, help="clips per video step")
    ap.add_argument("--objs", type=int, default=2, help="max objects per clip in a video step")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--p-correct", type=float, default=0.25)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=0, help="stop (cleanly) after this wall time")
    ap.add_argument("--threads", type=int, default=1,
                    help="1 is fastest on the shared 2-core box (threads spin against other jobs)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--loss-res", type=int, default=128)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--burn-in-max", type=int, default=0,
                    help="video steps may first track up to N frames without gradient (see video_step)")
    ap.add_argument("--p-burn-in", type=float, default=0.0, help="share of video steps with a burn-in")
    ap.add_argument("--transition-clips", action="store_true",
                    help="--p-transition picks among clips that have a transition (not diluted)")
    ap.add_argument("--init", default=None, help="start from this state dict (fine-tuning)")
    ap.add_argument("--stride-max", type=int, default=2, help="video windows use stride 1..N")
    ap.add_argument("--p-transition", type=float, default=0.0,
                    help="share of video windows placed over an object leaving / re-entering")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    global LOSS_RES
    LOSS_RES = args.loss_res
    set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logf = open(out / "train-log.jsonl", "a")

    def log(rec):
        rec["wall_s"] = round(time.time() - t_start, 1)
        line = json.dumps(rec)
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    t_start = time.time()
    spec = json.loads(Path(args.data).read_text())
    train = D.ClipSet([Path(p) for p in spec["train"]])
    val = D.ClipSet([Path(p) for p in spec["val"]])
    seeds = sorted(D.seed_of(n) for n in train.names + val.names)
    assert seeds[0] >= D.MIN_TRAIN_SEED, "held-out seeds (< 1000) must never be trained on"
    log({"event": "data", "train_clips": len(train), "val_clips": len(val),
         "train_frames": int(sum(f.shape[0] for f in train.frames)), "seeds": [seeds[0], seeds[-1]]})

    from models.sam2 import build_model
    model = build_model("tiny-synth")
    if args.init:
        model.load_state_dict(torch.load(args.init))
    model.train()
    if args.dropout is not None:
        # memory-attention dropout (0.1 in SAM 2) costs ~10 % of a CPU step; off by default here
        for mod in model.modules():
            if hasattr(mod, "dropout_p"):
                mod.dropout_p = args.dropout
    n_params = sum(p.numel() for p in model.parameters())
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "pos" in n or "embed" in n or "no_" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999))
    total = args.image_steps + args.video_steps
    step = 0
    ck = out / "last.pt"
    if args.resume and ck.exists():
        st = torch.load(ck)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        rng = np.random.default_rng(args.seed + step)
        gen = torch.Generator().manual_seed(args.seed + step)
        log({"event": "resume", "step": step})
    log({"event": "start", "params": n_params, "args": vars(args)})
    sampler = Sampler(train, rng)

    def save(tag="last"):
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, out / f"{tag}.pt.tmp")
        os.replace(out / f"{tag}.pt.tmp", out / f"{tag}.pt")
        torch.save(model.state_dict(), out / "model.pt")

    run_stats: Dict[str, float] = {}
    t_last = time.time()
    while step < total:
        phase = "image" if step < args.image_steps else "video"
        tf = (time.time() - t_start) / (args.minutes * 60) if args.minutes else 0.0
        lr = lr_at(step, total, args.lr, args.warmup, tf)
        for g in opt.param_groups:
            g["lr"] = lr
        if phase == "image":
            losses = image_step(model, sampler, args.image_batch, rng, gen)
        else:
            nb = 0
            if args.burn_in_max > 0 and rng.random() < args.p_burn_in:
                nb = int(rng.integers(min(8, args.burn_in_max), args.burn_in_max + 1))
            losses = video_step(model, sampler, args.batch, args.frames, rng, gen, args.p_correct, args.objs,
                                stride_max=args.stride_max, p_transition=args.p_transition, burn_in=nb,
                                transition_clips=args.transition_clips)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        for k, v in losses.items():
            run_stats[k] = run_stats.get(k, 0.0) + float(v)
        run_stats["gnorm"] = run_stats.get("gnorm", 0.0) + float(gn)
        if phase == "video" and args.burn_in_max > 0:
            run_stats["burn_in"] = run_stats.get("burn_in", 0.0) + nb
        if step % args.log_every == 0 or step == total:
            n = args.log_every if step % args.log_every == 0 else step % args.log_every
            rec = {"step": step, "phase": phase, "lr": round(lr, 6)}
            rec.update({k: round(v / n, 4) for k, v in run_stats.items()})
            rec["s_per_step"] = round((time.time() - t_last) / n, 2)
            t_last = time.time()
            log(rec)
            run_stats = {}
        if step % args.ckpt_every == 0:
            save()
        if step % args.val_every == 0 or step == total:
            v = validate(model, val)
            log({"step": step, "val_J": {k: round(x, 4) for k, x in v.items()}})
        if args.minutes and time.time() - t_start > args.minutes * 60:
            log({"event": "time budget reached", "step": step})
            break
    save()
    v = validate(model, val)
    log({"event": "done", "step": step, "val_J": {k: round(x, 4) for k, x in v.items()}})


if __name__ == "__main__":
    main()
