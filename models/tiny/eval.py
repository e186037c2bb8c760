"""Held-out evaluation of a tiny-synth checkpoint on the samples' evaluation clips (seeds 1..3).

    /usr/bin/python3 -m models.tiny.eval --checkpoint models/tiny/work/run/model.pt \
        [--clips models/tiny/work/heldout] [--prompts point,box,mask] [--json out.json]

For every clip and object, the object is prompted on its prompt frame (prompts.json: point,
box or frame-0 mask, scaled into the 256 x 256 model frame exactly as the engine does) and
tracked forward with the reference loop in infer.py, with memory and without it (every later
frame decoded from features + no_mem_embed with no prompt). Masks are compared at the clip's
native size: J = region IoU, F = DAVIS boundary F-measure (tolerance 0.008 x diagonal);
the prompt frame itself is excluded. Generate the clips with
`node samples/dist/cli.js --out models/tiny/work/heldout --kind all --seeds 1,2,3 --quiet`.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from models.tiny import data as D
from models.tiny import infer as I


def _shift_or(m: np.ndarray, offsets) -> np.ndarray:
    H, W = m.shape
    out = np.zeros_like(m)
    for dy, dx in offsets:
        src, dst = I.shift_slices(H, W, dy, dx)
        out[dst] |= m[src]
    return out


def boundary(m: np.ndarray) -> np.ndarray:
    cross = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
    eroded = ~_shift_or(~m, cross)
    return m & ~eroded


def f_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    r = max(1, int(math.ceil(0.008 * math.hypot(*gt.shape))))
    disk = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= r * r]
    bp, bg = boundary(pred), boundary(gt)
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    prec = (bp & _shift_or(bg, disk)).sum() / bp.sum()
    rec = (bg & _shift_or(bp, disk)).sum() / bg.sum()
    return 0.0 if prec + rec == 0 else float(2 * prec * rec / (prec + rec))


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    u = np.logical_or(pred, gt).sum()
    return 1.0 if u == 0 else float(np.logical_and(pred, gt).sum() / u)


def read_png_mask(path: Path, w: int, h: int) -> np.ndarray:
    raw = subprocess.run([D.FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w) > 127


def evaluate(model, clip_dirs: List[Path], prompt_kinds=("point", "box", "mask"), log=print) -> Dict:
    S = D.IMAGE_SIZE
    rows = []
    for cd in clip_dirs:
        kind = cd.name.split("-")[0]
        pr = json.loads((cd / "prompts.json").read_text())
        W, H = int(pr["width"]), int(pr["height"])
        gt = D.load_gt(cd / "gt.json")
        frames = D.decode_frames(cd / "clip.mp4")
        T = min(len(frames), gt.num_frames)
        frames = frames[:T]
        gtm = D.gt_masks(gt, None, T) > 0  # [K, T, H, W]
        t0 = time.time()
        feats = I.encode_all(model, frames)
        sx, sy = S / W, S / H
        for o in pr["objects"]:
            k = gt.object_ids.index(int(o["object_id"]))
            f0 = int(o["frame"])
            variants = []
            if "point" in prompt_kinds:
                variants.append(("point", {"points": [[o["point"][0] * sx, o["point"][1] * sy]], "labels": [1.0]}))
            if "box" in prompt_kinds:
                b = o["box"]
                variants.append(("box", {"points": [[b[0] * sx, b[1] * sy], [b[2] * sx, b[3] * sy]],
                                         "labels": [2.0, 3.0]}))
            if "mask" in prompt_kinds:
                m = read_png_mask(cd / o["mask"], W, H)
                variants.append(("mask", {"mask": D.resize_mask(m.astype(np.uint8), S)}))
            for pname, prompt in variants:
                modes = [True, False] if pname == "mask" else [True]
                for use_mem in modes:
                    pred = I.track(model, frames, prompt, start=f0, use_memory=use_mem, out_size=(H, W),
                                   feats_all=feats)
                    js = [jaccard(pred[t], gtm[k, t]) for t in range(f0 + 1, T)]
                    fs = [f_measure(pred[t], gtm[k, t]) for t in range(f0 + 1, T)]
                    row = {"clip": cd.name, "kind": kind, "object": int(o["object_id"]), "prompt": pname,
                           "memory": use_mem, "J": float(np.mean(js)), "F": float(np.mean(fs)),
                           "frames": T - f0 - 1}
                    row["JF"] = (row["J"] + row["F"]) / 2
                    rows.append(row)
                    log(json.dumps({k2: (round(v, 4) if isinstance(v, float) else v) for k2, v in row.items()}))
        log(f"# {cd.name}: {time.time() - t0:.1f}s")
    summary: Dict[str, Dict[str, float]] = {}
    for kind in sorted({r["kind"] for r in rows}):
        for pname in prompt_kinds:
            for use_mem in (True, False):
                sel = [r for r in rows if r["kind"] == kind and r["prompt"] == pname and r["memory"] == use_mem]
                if sel:
                    key = f"{kind}/{pname}/{'memory' if use_mem else 'no-memory'}"
                    summary[key] = {m: round(float(np.mean([r[m] for r in sel])), 4) for m in ("J", "F", "JF")}
    return {"rows": rows, "summary": summary}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--clips", default=str(D.WORK / "heldout"))
    ap.add_argument("--prompts", default="point,box,mask")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from models.sam2 import build_model
    model = build_model("tiny-synth", checkpoint=args.checkpoint).eval()
    dirs = sorted(p for p in Path(args.clips).iterdir() if (p / "gt.json").exists())
    for p in dirs:
        assert D.seed_of(p.name) < D.MIN_TRAIN_SEED, "evaluation clips must be the held-out seeds"
    res = evaluate(model, dirs, tuple(args.prompts.split(",")))
    for k, v in res["summary"].items():
        print(k, v)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
