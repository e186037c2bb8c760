"""Fine-tune a SAM 2 model on a site's annotated clips (what `cineseg finetune` runs).

    /usr/bin/python3 -m models.finetune.run --spec <work>/spec.json

The spec is written by engine/src/adapt/training-data.ts: the base config and checkpoint, and per
clip raw uint8 files at the model's size (frames [T, S, S, 3], masks [K, T, S, S]) plus the frame
range that may be trained on (the rest is the validation split, never seen here).

SAM 2's video recipe (SAM2-FINETUNE-NOTES.md), at the size a CPU can carry:
- short windows (8 frames) tracked with the model's own memory, exactly the memory selection the
  engine makes (infer.select_memory), gradients through the whole window;
- prompts simulated from the ground truth on the first frame (click, clicks, box or mask) and
  corrective clicks on later frames (from the error region, previous logits as mask input), which
  then become conditioning frames as in the engine, so the model learns to answer corrections;
- the image encoder is frozen and its features are computed ONCE per frame (and its mirror image)
  before training, so a step costs only memory attention, decoder and memory encoder;
- what trains: LoRA adapters on memory attention and the mask decoder (default), or every
  parameter after the image encoder (`full`). Adapters are merged before export.

Output lines on stdout are JSON (one object a line) for the engine to show progress; Ctrl-C or
SIGTERM finishes the current step, writes <work>/last.pt and exits 130 (`resume: true` goes on).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.finetune.lora import apply_lora, merge_lora
from models.sam2 import build_model
from models.tiny import infer as I
from models.tiny import train as T

PROMPT_P = {"click": 0.35, "clicks": 0.15, "box": 0.25, "mask": 0.25}


def emit(rec: Dict) -> None:
    print(json.dumps(rec), flush=True)


class CachedClip:
    """One clip's masks at the model's size for the frames training may use, and its image
    features: computed once (and for the mirror image) when the image encoder is frozen, or on
    the fly from the raw frames, with photometric jitter, when it trains."""

    def __init__(self, entry: Dict, S: int, model, flip: bool, dtype: torch.dtype, cache: bool) -> None:
        T_ = int(entry["numFrames"])
        K = len(entry["objects"])
        frames = np.fromfile(entry["frames"], dtype=np.uint8).reshape(T_, S, S, 3)
        masks = np.fromfile(entry["masks"], dtype=np.uint8).reshape(K, T_, S, S)
        lo, hi = entry["trainFrames"]
        self.name = entry["name"]
        self.labels = list(entry.get("labels") or ["object"] * K)
        self.masks = masks[:, lo:hi].copy()
        self.T = hi - lo
        self.flip = flip
        self.model = model
        self.feats: List[Tuple[Tensor, Tensor, Tensor]] = []
        self.frames: Optional[np.ndarray] = None
        if cache:
            for mirrored in ([False, True] if flip else [False]):
                x = frames[lo:hi, :, ::-1] if mirrored else frames[lo:hi]
                parts = [[], [], []]
                with torch.no_grad():
                    for i in range(0, self.T, 8):
                        out = model.encode_image(I.preprocess(np.ascontiguousarray(x[i:i + 8])))
                        for p, o in zip(parts, out):
                            p.append(o.to(dtype))
                self.feats.append(tuple(torch.cat(p) for p in parts))  # type: ignore[arg-type]
        else:
            self.frames = frames[lo:hi].copy()
        area = self.masks.reshape(K, self.T, -1).sum(-1)
        k, t = np.nonzero(area >= 12)
        self.visible = np.stack([k, t], 1)

    @property
    def mirrors(self) -> bool:
        return self.flip

    def features(self, idx: np.ndarray, mirrored: bool, rng: np.random.Generator,
                 shifts: Optional[np.ndarray] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """(vision_feat, high_res0, high_res1) of frames idx (the order given); shifts [T, 2]
        (dy, dx in pixels) moves each frame, see camera_path."""
        if self.frames is None:
            return tuple(f[idx].float() for f in self.feats[1 if mirrored else 0])  # type: ignore[return-value]
        x = torch.from_numpy(np.ascontiguousarray(self.frames[idx])).permute(0, 3, 1, 2).float() / 255.0
        if mirrored:
            x = x.flip(-1)
        if shifts is not None:
            x = torch.from_numpy(shift_stack(x.numpy(), shifts))
        # the site's look varies too (gain, exposure): jitter contrast and brightness per window
        contrast = 0.8 + 0.4 * float(rng.random())
        bright = 0.12 * (float(rng.random()) - 0.5)
        mean = x.mean()
        x = ((x - mean) * contrast + mean + bright).clamp(0, 1)
        return self.model.encode_image((x - I.MEAN) / I.STD)


def camera_path(L: int, S: int, rng: np.random.Generator) -> np.ndarray:
    """Per-frame (dy, dx) of a simulated camera drift: a constant velocity of up to 2 % of the
    frame a frame, plus jitter, kept within a quarter of the frame. Why: on a site whose look the
    model does not know, it holds the object where memory last saw it, and the mask trails a moving
    object until it is lost (site e's clips, base and adapted models alike); a few annotated clips
    have too little motion to teach it otherwise. Moving whole frames makes where the object was a
    poor guide, so the adapters learn to follow its appearance."""
    v = rng.uniform(-0.02, 0.02, size=2) * S
    steps = v[None, :] + rng.normal(0.0, 0.004 * S, size=(L, 2))
    steps[0] = 0.0
    path = np.cumsum(steps, axis=0)
    return np.clip(np.rint(path), -S // 4, S // 4).astype(np.int64)


def shift_stack(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Moves frame t of x [T, ..., H, W] by shifts[t] = (dy, dx) pixels; what comes in is 0
    (black, as outside an ultrasound fan or an endoscope's vignette)."""
    out = np.zeros_like(x)
    H, W = x.shape[-2], x.shape[-1]
    for t, (dy, dx) in enumerate(shifts):
        (ys, xs), (yd, xd) = I.shift_slices(H, W, int(dy), int(dx))
        out[t, ..., yd, xd] = x[t, ..., ys, xs]
    return out


class WindowSampler:
    """Windows of L frames (stride 1 or 2, either direction) starting where an object is visible."""

    def __init__(self, clips: List[CachedClip], rng: np.random.Generator, p_motion: float = 0.0) -> None:
        self.clips = [c for c in clips if len(c.visible)]
        self.rng = rng
        # the share of windows moved along a camera_path (frames from raw pixels only)
        self.p_motion = p_motion
        if not self.clips:
            raise ValueError("no annotated object is visible in the training frames")

    def window(self, L: int, max_objs: int, grad_from: int = 0):
        """A window of L frames; with grad_from > 0 the first grad_from frames' features are made
        without gradient (a burn-in that is only tracked, see window_step)."""
        rng = self.rng
        for _ in range(200):
            c = self.clips[int(rng.integers(len(self.clips)))]
            stride = 1 if rng.random() < 0.7 else 2
            step = -stride if rng.random() < 0.5 else stride
            Lc = L
            end = c.visible[:, 1] + step * (Lc - 1)
            ok = c.visible[(end >= 0) & (end < c.T)]
            if len(ok) == 0:
                Lc = min(L, c.T)
                step = 1
                ok = c.visible[c.visible[:, 1] + Lc - 1 < c.T]
                if len(ok) == 0:
                    continue
            t0 = int(ok[int(rng.integers(len(ok))), 1])
            objs = rng.permutation(np.unique(ok[ok[:, 1] == t0, 0]))[:max_objs]
            idx = t0 + step * np.arange(Lc)
            mirrored = c.mirrors and rng.random() < 0.5
            shifts = None
            if c.frames is not None and self.p_motion > 0 and rng.random() < self.p_motion:
                shifts = camera_path(len(idx), c.masks.shape[-1], rng)
            # a short clip gives a shorter window: window_step trains its last 2+ frames then
            gf = min(grad_from, max(0, len(idx) - 2))
            if gf > 0 and c.frames is not None:
                with torch.no_grad():
                    a = c.features(idx[:gf], mirrored, rng, None if shifts is None else shifts[:gf])
                b = c.features(idx[gf:], mirrored, rng, None if shifts is None else shifts[gf:])
                vf, h0, h1 = (torch.cat([x, y]) for x, y in zip(a, b))
            else:
                vf, h0, h1 = c.features(idx, mirrored, rng, shifts)
            objs = np.sort(objs)
            m = c.masks[objs][:, idx]
            if mirrored:
                m = m[:, :, :, ::-1]
            if shifts is not None:
                m = shift_stack(np.ascontiguousarray(m.transpose(1, 0, 2, 3)), shifts).transpose(1, 0, 2, 3)
            self.last = (c, [c.labels[int(k)] for k in objs])
            return (vf, h0, h1), np.ascontiguousarray(m)
        raise ValueError("no training window found (clips too short for the window length?)")

    def support_frames(self, exclude: CachedClip, label: str, n: int):
        """n (clip, object, frame, mirrored) of OTHER clips whose object has this label, or None."""
        rng = self.rng
        pool = [(c, k) for c in self.clips if c is not exclude for k in range(len(c.labels)) if c.labels[k] == label]
        out = []
        for _ in range(n):
            if not pool:
                return None
            c, k = pool[int(rng.integers(len(pool)))]
            vis = c.visible[c.visible[:, 0] == k]
            if len(vis) == 0:
                return None
            t = int(vis[int(rng.integers(len(vis))), 1])
            out.append((c, k, t, c.mirrors and rng.random() < 0.5))
        return out


def support_memory(model, c: CachedClip, k: int, t: int, mirrored: bool, rng: np.random.Generator) -> Tuple[Tensor, Tensor]:
    """What the engine's support set stores for an annotated frame of another clip
    (support-set.ts, the addMask path): memory [1, Cm, h, w] and pointer [1, C]."""
    vf, h0, h1 = c.features(np.array([t]), mirrored, rng)
    m = c.masks[k, t]
    if mirrored:
        m = m[:, ::-1]
    S = m.shape[-1]
    mt = torch.from_numpy(np.ascontiguousarray(m).astype(np.float32))[None, None]
    pc, pl = I.no_prompt(1)
    _, _, ptr_all, _ = model.decode(vf, h0, h1, pc, pl, model.mask_downsample(mt), torch.ones(1))
    low = F.interpolate(mt * 20.0 - 10.0, size=(S // 4, S // 4), mode="bilinear", align_corners=False, antialias=True)
    mem_in = (I.upsample(low, (S, S)) > 0).float()
    return model.encode_memory(vf, mem_in, torch.full((1, 1), 10.0)), ptr_all[:, 0]


def window_step(model, feats, masks_np: np.ndarray, rng: np.random.Generator, p_correct: float,
                max_corrections: int, support: Optional[Tuple[Tensor, Tensor]] = None, burn_in: int = 0) -> Dict:
    """One window of one clip, K objects with their own memory banks. Frame 0 is prompted from the
    ground truth; later frames are tracked; up to `max_corrections` frames get a corrective click
    (then they are conditioning frames, as in the engine's default add_all_frames_to_correct_as_cond).

    support (memories [K, Ns, Cm, h, w], pointers [K, Ns, C]): a zero-click window. No frame is
    prompted; every frame, the first included, attends to the support memories of other clips at
    t_pos 0 with their pointers at the farthest position, as the engine's support sets do.

    burn_in > 0: the first burn_in frames are tracked without gradient and without loss, so the
    trained frames see a memory bank full of the model's own predictions, as 30 frames into a clip
    at inference (the stage-3 lesson in models/tiny/README.md: drift and exits happen there)."""
    vf_all, h0_all, h1_all = feats
    K, L = masks_np.shape[0], masks_np.shape[1]
    S = masks_np.shape[-1]
    m = torch.from_numpy(masks_np.astype(np.float32))
    C = vf_all.shape[1]
    no_mem = model.no_mem_embed.reshape(1, C, 1, 1)
    zeros_in = torch.zeros(K, 1, S // 4, S // 4)
    mems: Dict[int, Tensor] = {}
    ptrs: Dict[int, Tensor] = {}
    cond = [] if support is not None else [0]
    lo = burn_in + 2
    n_corr = int(rng.integers(1, max_corrections + 1)) if (L > lo and rng.random() < p_correct) else 0
    corr_at = set(int(t) for t in rng.choice(np.arange(lo, L), size=min(n_corr, L - lo), replace=False)) if n_corr else set()
    total_acc: Dict = {}
    n_total = 0
    kinds_all = list(PROMPT_P)
    for t in range(L):
        burning = t < burn_in
        acc: Dict = {} if burning else total_acc
        n_terms = 0
        ctx = torch.no_grad() if burning else contextlib.nullcontext()
        ctx.__enter__()
        vf = vf_all[t:t + 1].expand(K, -1, -1, -1)
        h0 = h0_all[t:t + 1].expand(K, -1, -1, -1)
        h1 = h1_all[t:t + 1].expand(K, -1, -1, -1)
        target = m[:, t:t + 1]
        if t == 0 and support is None:
            kinds = rng.choice(kinds_all, size=K, p=list(PROMPT_P.values()))
            is_mask = torch.tensor([k == "mask" for k in kinds])
            pc, pl = T.first_frame_prompts(kinds, masks_np[:, 0], rng)
            mask_in = torch.where(is_mask.view(K, 1, 1, 1), model.mask_downsample(target), zeros_in)
            embed = torch.where(is_mask.view(K, 1, 1, 1), vf, vf + no_mem)
            multimask = torch.tensor([k == "click" for k in kinds])
            l, low, hr, ptr, score = T.decode_and_loss(model, embed, h0, h1, pc, pl, mask_in, is_mask.float(),
                                                       multimask, target, mask_weight=(~is_mask).float())
            T.add_losses(acc, l)
            n_terms += 1
            hr = torch.where(is_mask.view(K, 1, 1, 1), target * 20.0 - 10.0, hr)
            mem_in = torch.where(is_mask.view(K, 1, 1, 1), target, (hr > 0).float())
            mscore = torch.where(is_mask.view(K, 1), torch.full_like(score, 10.0), score)
        else:
            if mems:
                memory, mt, op, opt = I.select_memory(t, cond, mems, ptrs, False, I.MAX_PTRS)
            if support is not None:
                sm, sp = support
                ns = sm.shape[1]
                smt = torch.full((ns,), I.NUM_MASKMEM - 1, dtype=torch.int64)
                spt = torch.ones(ns)  # distance maxPtrs - 1, normalised
                if mems:
                    memory, mt = torch.cat([sm, memory], 1), torch.cat([smt, mt])
                    op, opt = torch.cat([sp, op], 1), torch.cat([spt, opt])
                else:
                    memory, mt, op, opt = sm, smt, sp, spt
            embed = model.condition(vf, memory, mt, op, opt)
            pc, pl = I.no_prompt(K)
            mm = torch.ones(K, dtype=torch.bool)
            l, low, hr, ptr, score = T.decode_and_loss(model, embed, h0, h1, pc, pl, zeros_in, torch.zeros(K), mm,
                                                       target)
            T.add_losses(acc, l)
            n_terms += 1
            mem_in = torch.sigmoid(hr)
            mscore = score
            if t in corr_at:
                pred = (hr[:, 0] > 0).detach().numpy()
                cp, cl = [], []
                for b in range(K):
                    xy, lab = T.correction_click(pred[b], masks_np[b, t].astype(bool), rng)
                    cp.append([xy]), cl.append([lab])
                pc, pl = T.pad_points(cp, cl)
                # the correction is trained twice as hard: answering it is what saves clicks. One
                # click on a frame: the engine decodes it multimask (SAM 2.1's multimask_max_pt_num
                # is 1) and keeps the best predicted IoU, so those are the tokens trained here.
                l, low, hr, ptr, score = T.decode_and_loss(model, embed, h0, h1, pc, pl, low.clamp(-32, 32),
                                                           torch.ones(K), mm, target)
                T.add_losses(acc, l, 2.0)
                n_terms += 2
                mem_in = (hr > 0).float()
                mscore = score
                cond.append(t)
        mems[t] = model.encode_memory(vf, mem_in, mscore)
        ptrs[t] = ptr
        ctx.__exit__(None, None, None)
        if not burning:
            n_total += n_terms
    return {k: v / n_total for k, v in total_acc.items()}


@torch.no_grad()
def fixed_loss(model, clips: List[CachedClip], seed: int, n: int, L: int, max_objs: int) -> float:
    """Mean loss over the same n windows, prompts and corrections every time it is called (its own
    RNG), so "before" and "after" training compare like with like; step losses are too noisy
    (one window's lost object weighs 20x through the focal term) to show a trend on a few steps."""
    rng = np.random.default_rng(seed + 7919)
    sampler = WindowSampler(clips, rng)
    total = 0.0
    for _ in range(n):
        feats, masks = sampler.window(L, max_objs)
        total += float(window_step(model, feats, masks, rng, 0.6, 2)["total"])
    return total / n


def lr_at(step: int, total: int, base: float, warmup: int, time_frac: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, max((step - warmup) / max(1, total - warmup), time_frac))
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p)))


def trainable(model, mode: str, encoder: str, spec: Dict) -> List[str]:
    """mode: lora | full for memory attention + decoder (+ memory encoder when full);
    encoder: frozen (features cached) | lora | train (the image encoder adapts too)."""
    if encoder not in ("frozen", "lora", "train"):
        raise ValueError(f"encoder must be frozen, lora or train, got {encoder!r}")
    if mode == "lora":
        targets = list(spec.get("loraTargets", ["memory_attention", "mask_decoder"]))
        if encoder == "lora":
            targets.append("image_encoder")
        names = apply_lora(model, targets, int(spec.get("rank", 8)), float(spec.get("alpha", 2 * int(spec.get("rank", 8)))))
        if encoder == "train":
            for n, p in model.named_parameters():
                if n.startswith("image_encoder.") or n.startswith("sam_mask_decoder.conv_s"):
                    p.requires_grad_(True)
                    names.append(n)
        return names
    if mode != "full":
        raise ValueError(f"mode must be lora or full, got {mode!r}")
    names = []
    for n, p in model.named_parameters():
        # with cached features, nothing that makes them may change
        frozen = encoder == "frozen" and (n.startswith("image_encoder.") or n.startswith("sam_mask_decoder.conv_s"))
        p.requires_grad_(not frozen)
        if not frozen:
            names.append(n)
    return names


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    a = ap.parse_args(argv)
    spec = json.loads(Path(a.spec).read_text())
    work = Path(spec["work"])
    work.mkdir(parents=True, exist_ok=True)
    seed = int(spec.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(int(spec.get("threads", 1)))
    t0 = time.time()

    stop = {"flag": False}

    def on_signal(signum, _frame):
        stop["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    if not spec.get("checkpoint"):
        # a random-weights base (smoke runs): the exporter's seed rebuilds exactly its weights
        torch.manual_seed(int(spec.get("randomSeed", 0)))
    model = build_model(spec["config"], checkpoint=spec.get("checkpoint"), image_size=int(spec["imageSize"]))
    torch.manual_seed(seed)
    S = model.image_size
    # train.py's helpers (prompts, losses) work in its module-level frame size: this model's
    T.S = S
    mode = spec.get("mode", "lora")
    encoder = spec.get("encoder", "frozen")
    names = trainable(model, mode, encoder, spec)
    params = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in params)
    n_all = sum(p.numel() for p in model.parameters())
    emit({"event": "model", "config": spec["config"], "imageSize": S, "mode": mode, "encoder": encoder, "trainableParameters": n_train,
          "parameters": n_all, "wrapped": len(names)})

    model.eval()  # no dropout: memory-attention dropout is off in this recipe (see models/tiny/README.md)
    flip = bool(spec.get("flip", True))
    big = S > 256
    clips = []
    for e in spec["clips"]:
        clips.append(CachedClip(e, S, model, flip, torch.float16 if big else torch.float32, cache=encoder == "frozen"))
        emit({"event": "features", "clip": e["name"], "frames": clips[-1].T, "wall_s": round(time.time() - t0, 1)})
    rng = np.random.default_rng(seed)
    sampler = WindowSampler(clips, rng, float(spec.get("motionAug", 0.0)))

    steps = int(spec.get("steps", 300))
    minutes = float(spec.get("minutes", 0) or 0)
    L = int(spec.get("frames", 8))
    batch = int(spec.get("batch", 2))
    max_objs = int(spec.get("objects", 3))
    base_lr = float(spec.get("lr", 1e-3 if mode == "lora" else 1.5e-4))
    warmup = int(spec.get("warmup", 10))
    p_correct = float(spec.get("pCorrect", 0.6))
    max_corr = int(spec.get("maxCorrections", 2))
    # Zero-click windows need another clip with an object of the same label.
    p_support = float(spec.get("pSupport", 0.3)) if len(clips) > 1 else 0.0
    p_burn_in = float(spec.get("pBurnIn", 0.5))
    burn_in_max = int(spec.get("burnInMax", 32))
    max_support = int(spec.get("maxSupportFrames", 4))

    def make_support(model, sampler: WindowSampler, n: int):
        c, labels = sampler.last
        per_obj = []
        for lab in labels:
            picks = sampler.support_frames(c, lab, n)
            if picks is None:
                return None
            ms, ps = zip(*[support_memory(model, *pk, sampler.rng) for pk in picks])
            per_obj.append((torch.cat(ms)[None], torch.cat(ps)[None]))
        return torch.cat([m for m, _ in per_obj]), torch.cat([p for _, p in per_obj])

    # Adapters start at zero and may move fast; whole pretrained weights (the image encoder when
    # it trains, everything in `full` mode) move at a fraction of that, or a few clips pull the
    # encoder's features onto those clips' objects (measured: lr 1e-3 on the encoder fit the
    # annotated clips and lost J&F on the site's other clips).
    lora_params = [p for n, p in model.named_parameters() if p.requires_grad and ".lora_" in n]
    whole_params = [p for n, p in model.named_parameters() if p.requires_grad and ".lora_" not in n]
    whole_scale = float(spec.get("wholeLrScale", 0.15 if mode == "lora" else 1.0))
    groups = [g for g in ({"params": lora_params, "lr_scale": 1.0}, {"params": whole_params, "lr_scale": whole_scale}) if g["params"]]
    opt = torch.optim.AdamW(groups, lr=base_lr, weight_decay=float(spec.get("weightDecay", 0.01)))
    step = 0
    resumed_loss_before = None
    last = work / "last.pt"
    if spec.get("resume") and last.exists():
        st = torch.load(last)
        trainable_state = st["trainable"]
        missing = [k for k in trainable_state if k not in dict(model.named_parameters())]
        if missing:
            raise ValueError(f"checkpoint {last} does not match this run (e.g. {missing[0]})")
        with torch.no_grad():
            named = dict(model.named_parameters())
            for k, v in trainable_state.items():
                named[k].copy_(v)
        opt.load_state_dict(st["opt"])
        step = int(st["step"])
        resumed_loss_before = st.get("fixedLossBefore")
        rng = np.random.default_rng(seed + step)
        sampler.rng = rng
        emit({"event": "resume", "step": step})

    def save_resumable() -> None:
        state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        torch.save({"trainable": state, "opt": opt.state_dict(), "step": step, "fixedLossBefore": loss_before},
                   work / "last.pt.tmp")
        os.replace(work / "last.pt.tmp", last)

    n_fixed = int(spec.get("fixedWindows", 12))
    # the base's loss, also after a resume (the checkpoint keeps it)
    if resumed_loss_before is not None:
        loss_before = resumed_loss_before
    else:
        loss_before = fixed_loss(model, clips, seed, n_fixed, L, max_objs) if n_fixed else None
    emit({"event": "fixedLoss", "when": "before", "loss": loss_before})
    train_start = time.time()
    first_step = step
    ema: Optional[float] = None
    losses_log: List[float] = []
    while step < steps:
        tf = (time.time() - train_start) / (minutes * 60) if minutes else 0.0
        lr = lr_at(step, steps, base_lr, warmup, tf)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        total: Optional[Tensor] = None
        for _ in range(batch):
            nb = int(rng.integers(8, burn_in_max + 1)) if burn_in_max >= 8 and rng.random() < p_burn_in else 0
            feats, masks = sampler.window(L + nb, max_objs, grad_from=nb)
            nb = min(nb, max(0, masks.shape[1] - 2))  # a short clip may give a shorter window
            sup = None
            if p_support > 0 and rng.random() < p_support:
                sup = make_support(model, sampler, int(rng.integers(1, max_support + 1)))
            l = window_step(model, feats, masks, rng, p_correct, max_corr, sup, burn_in=nb)["total"] / batch
            l.backward()
            total = l.detach() if total is None else total + l.detach()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        loss = float(total)  # type: ignore[arg-type]
        losses_log.append(loss)
        ema = loss if ema is None else 0.9 * ema + 0.1 * loss
        el = time.time() - train_start
        per = el / max(1, step - first_step)
        eta = per * (steps - step)
        if minutes:
            eta = min(eta, max(0.0, minutes * 60 - el))
        emit({"event": "step", "step": step, "steps": steps, "loss": round(loss, 5), "lossEma": round(ema, 5),
              "lr": round(lr, 7), "sPerStep": round(per, 3), "etaS": round(eta, 1)})
        if step % 50 == 0:
            save_resumable()
        if stop["flag"]:
            save_resumable()
            emit({"event": "interrupted", "step": step, "checkpoint": str(last)})
            return 130
        if minutes and el > minutes * 60:
            emit({"event": "time budget reached", "step": step})
            break
    save_resumable()
    loss_after = fixed_loss(model, clips, seed, n_fixed, L, max_objs) if n_fixed else None
    emit({"event": "fixedLoss", "when": "after", "loss": loss_after})
    merged = merge_lora(model) if mode == "lora" else 0
    out_ckpt = work / "model.pt"
    torch.save(model.state_dict(), out_ckpt)
    n = len(losses_log)
    q = max(1, n // 5)
    first = float(np.mean(losses_log[:q])) if n else float("nan")
    last_q = float(np.mean(losses_log[-q:])) if n else float("nan")
    emit({"event": "trained", "steps": step, "mergedAdapters": merged, "checkpoint": str(out_ckpt),
          "lossFirstFifth": round(first, 5), "lossLastFifth": round(last_q, 5),
          "fixedLossBefore": loss_before, "fixedLossAfter": loss_after,
          "trainSeconds": round(time.time() - train_start, 1), "wallSeconds": round(time.time() - t0, 1)})
    if spec.get("bundleOut"):
        from models.export.export_bundle import export_bundle
        manifest = export_bundle(spec["config"], spec["bundleOut"], checkpoint=str(out_ckpt),
                                 image_size=S, selftest=False, name=spec.get("name"), quiet=True)
        emit({"event": "exported", "bundle": spec["bundleOut"], "name": manifest["name"],
              "wallSeconds": round(time.time() - t0, 1)})
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
