"""Data pipeline for the tiny SAM2 model: synthetic clips -> cached 256x256 frames + masks.

Clips come from the samples generator (`node samples/dist/cli.js`), one folder per clip with
`clip.mp4` (H.264), `gt.json` (YouTube-VIS style, COCO compressed RLE per frame) and
`prompts.json`. Frames are decoded exactly as the engine preprocesses them (ffmpeg bicubic
scale to S x S, aspect ratio NOT kept) so that training sees the same pixels the ONNX graphs
will see at run time.

Seeds 1..3 are the held-out evaluation set; `generate_clips` refuses seeds < 1000 for training
data so the split cannot leak by accident.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "models" / "tiny" / "work"
FFMPEG = "/usr/bin/ffmpeg"
IMAGE_SIZE = 256
MIN_TRAIN_SEED = 1000
# The sample generator's --site e is kept out of every training set: the shipped model's J&F on
# it is the "site it never saw" figure, and the adaptation bench fine-tunes on it.
HELD_OUT_SITE = "e"


# ----------------------------------------------------------------------------------------------
# COCO compressed RLE (the string form of pycocotools' maskApi rleToString / rleFrString)
# ----------------------------------------------------------------------------------------------
def rle_counts_from_string(s: str) -> List[int]:
    """Decode the LEB128-like 6-bit-per-char counts string; counts after the 2nd are deltas."""
    counts: List[int] = []
    p = 0
    n = len(s)
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)  # sign-extend the last chunk
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_counts_to_string(counts: Sequence[int]) -> str:
    """Inverse of rle_counts_from_string (used by the round-trip test and the synthetic fixture)."""
    out = []
    for i, c in enumerate(counts):
        x = int(c)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def rle_decode(rle: Dict) -> np.ndarray:
    """COCO RLE dict {size:[h,w], counts:str|list} -> uint8 mask [h, w] (runs are column-major)."""
    h, w = int(rle["size"][0]), int(rle["size"][1])
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = rle_counts_from_string(counts)
    flat = np.zeros(h * w, dtype=np.uint8)
    pos = 0
    val = 0
    for c in counts:
        if val:
            flat[pos:pos + c] = 1
        pos += c
        val ^= 1
    if pos != h * w:
        raise ValueError(f"RLE covers {pos} pixels, expected {h * w}")
    return flat.reshape(w, h).T.copy()


def rle_encode(mask: np.ndarray) -> Dict:
    """uint8/bool mask [h, w] -> COCO compressed RLE dict."""
    h, w = mask.shape
    flat = (mask.T.reshape(-1) > 0).astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return {"size": [h, w], "counts": rle_counts_to_string(runs)}


# ----------------------------------------------------------------------------------------------
# Clip decoding
# ----------------------------------------------------------------------------------------------
def decode_frames(mp4: Path, size: int = IMAGE_SIZE, max_frames: Optional[int] = None) -> np.ndarray:
    """Decode a video to uint8 RGB [T, size, size, 3] with the engine's ffmpeg preprocessing."""
    cmd = [FFMPEG, "-v", "error", "-nostdin", "-i", str(mp4)]
    if max_frames is not None:
        cmd += ["-frames:v", str(max_frames)]
    cmd += ["-vf", f"scale={size}:{size}:flags=bicubic", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    fb = size * size * 3
    if len(raw) % fb:
        raise ValueError(f"{mp4}: {len(raw)} bytes is not a whole number of frames")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, size, size, 3).copy()


@dataclass
class ClipGT:
    width: int
    height: int
    num_frames: int
    object_ids: List[int]
    # per object: list over frames of RLE dict or None
    segs: List[List[Optional[Dict]]]


def load_gt(gt_path: Path) -> ClipGT:
    gt = json.loads(Path(gt_path).read_text())
    vid = gt["videos"][0] if gt.get("videos") else {}
    anns = sorted(gt["annotations"], key=lambda a: a.get("id", 0))
    w = int(vid.get("width", 0))
    h = int(vid.get("height", 0))
    segs = [a["segmentations"] for a in anns]
    if not w or not h:
        for s in segs:
            for r in s:
                if r:
                    h, w = int(r["size"][0]), int(r["size"][1])
                    break
            if w:
                break
    n = int(vid.get("length", max(len(s) for s in segs)))
    ids = [int(a.get("id", i + 1)) for i, a in enumerate(anns)]
    return ClipGT(width=w, height=h, num_frames=n, object_ids=ids, segs=segs)


def resize_mask(mask: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Native-resolution binary mask -> size x size binary mask (area-weighted, threshold 0.5)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    r = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (r[0, 0].numpy() >= 0.5).astype(np.uint8)


def gt_masks(gt: ClipGT, size: Optional[int] = IMAGE_SIZE, num_frames: Optional[int] = None) -> np.ndarray:
    """All objects' masks, uint8 [K, T, H, W] (H = W = size, or native if size is None)."""
    T = num_frames if num_frames is not None else gt.num_frames
    H, W = (size, size) if size else (gt.height, gt.width)
    out = np.zeros((len(gt.segs), T, H, W), dtype=np.uint8)
    for k, seg in enumerate(gt.segs):
        for t in range(min(T, len(seg))):
            r = seg[t]
            if not r:
                continue
            m = rle_decode(r)
            out[k, t] = resize_mask(m, size) if size else m
    return out


def cache_clip(clip_dir: Path, cache_dir: Path) -> Path:
    """Decode one clip dir into an .npz: frames [T,S,S,3] uint8, masks [K,T,S,S] uint8."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"{clip_dir.name}.npz"
    if out.exists():
        return out
    frames = decode_frames(clip_dir / "clip.mp4")
    gt = load_gt(clip_dir / "gt.json")
    T = min(len(frames), gt.num_frames)
    masks = gt_masks(gt, IMAGE_SIZE, T)
    np.savez(out, frames=frames[:T], masks=masks, size=np.array([gt.width, gt.height]))
    return out


# ----------------------------------------------------------------------------------------------
# Generation (samples CLI) and the in-memory dataset
# ----------------------------------------------------------------------------------------------
def generate_clips(out_dir: Path, kind: str, seed_start: int, count: int, frames: int,
                   size: str, exit_rate: Optional[float] = None, site: str = "a") -> None:
    if seed_start < MIN_TRAIN_SEED:
        raise ValueError("seeds < 1000 are reserved (1..3 are the held-out evaluation set)")
    if site == HELD_OUT_SITE:
        raise ValueError(f"site {HELD_OUT_SITE} is never trained on: it measures generalisation to a new site")
    cmd = ["node", str(REPO / "samples" / "dist" / "cli.js"), "--out", str(out_dir), "--kind", kind,
           "--seed-start", str(seed_start), "--count", str(count), "--frames", str(frames),
           "--size", size, "--quiet"] + ([] if exit_rate is None else ["--exit-rate", str(exit_rate)])
    if site != "a":
        cmd += ["--site", site]
    subprocess.run(cmd, check=True, cwd=REPO)


class ClipSet:
    """All cached clips held in memory as uint8 arrays."""

    def __init__(self, npz_paths: Sequence[Path]):
        self.names: List[str] = []
        self.frames: List[np.ndarray] = []
        self.masks: List[np.ndarray] = []
        for p in npz_paths:
            d = np.load(p)
            self.names.append(Path(p).stem)
            self.frames.append(d["frames"])
            self.masks.append(d["masks"])
        # (clip, object, frame) triples where the object is clearly visible: prompt candidates
        self.visible: List[np.ndarray] = []
        for ci, m in enumerate(self.masks):
            area = m.reshape(m.shape[0], m.shape[1], -1).sum(-1)  # [K, T]
            k, t = np.nonzero(area >= 12)
            self.visible.append(np.stack([k, t], 1))

    def __len__(self) -> int:
        return len(self.frames)


def seed_of(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def build_dataset(plan: Sequence[Tuple[str, int, int, int, str]], clip_root: Path, cache_dir: Path,
                  log=print, exit_rate: Optional[float] = None, site: str = "a") -> List[Path]:
    """plan: (kind, seed_start, count, frames, 'WxH'); generates missing clips then caches them.
    Clips of another site than the default live in `<kind>-<site>-<seed>` (the generator's layout)."""
    paths: List[Path] = []
    for kind, s0, count, frames, size in plan:
        name = (lambda s: f"{kind}-{s}") if site == "a" else (lambda s: f"{kind}-{site}-{s}")
        missing = [s for s in range(s0, s0 + count)
                   if not (cache_dir / f"{name(s)}.npz").exists()
                   and not (clip_root / name(s) / "gt.json").exists()]
        if missing:
            log(f"generating {kind} site {site} seeds {s0}..{s0 + count - 1} ({frames} frames, {size})")
            generate_clips(clip_root, kind, s0, count, frames, size, exit_rate, site)
        for s in range(s0, s0 + count):
            paths.append(cache_clip(clip_root / name(s), cache_dir))
    return paths


# the training set: seeds >= 1000, both kinds, several frame sizes so the non-aspect-preserving
# resize is seen at different ratios; the first VAL_PER_KIND seeds of each kind are held in for
# validation during training.
TRAIN_PLAN = [
    # (seed_start, count, frames, size)
    (1000, 40, 32, "480x360"),
    (1040, 40, 32, "320x240"),
    (1080, 40, 32, "384x384"),
    (1120, 40, 32, "512x288"),
]
VAL_PER_KIND = 4

# Long clips (90 frames, as long as the held-out clips): objects leave the field, fade and come
# back only late in a clip, so the 32-frame clips above hardly ever show the model an exit. The
# fine-tune samples windows around these visibility changes (train.py --p-transition).
LONG_PLAN = [
    (2000, 16, 90, "480x360"),
    (2016, 16, 90, "320x240"),
    (2032, 16, 90, "384x384"),
    (2048, 16, 90, "512x288"),
]

# Exit clips (stage 3): 90-frame ultrasound clips in which one structure always drifts out of the
# fan (`--exit-rate 1`), usually next to another structure it could be mistaken for. The held-out
# failures are exactly this: after 30+ frames of memory of a visible structure, the prediction
# slid onto a neighbour instead of the score head saying "gone".
EXIT_PLAN = [
    (3000, 24, 90, "480x360"),
    (3024, 16, 90, "320x240"),
    (3040, 12, 90, "384x384"),
    (3052, 12, 90, "512x288"),
]


# Stage 4 (multi-site): the same scenes drawn by four sites' scanners and light sources (domain
# randomisation, as multi-site sets such as AbdomenAtlas argue), so that the model's features stop
# depending on one site's look; site e stays out (HELD_OUT_SITE). Per site and kind: short clips at
# the four frame sizes, long clips with exits and fades, and two held-in validation clips.
SITES_TRAIN = ("a", "b", "c", "d")
SITE_PLAN = [
    # (seed offset, count, frames, size)
    (0, 4, 32, "480x360"),
    (4, 4, 32, "320x240"),
    (8, 4, 32, "384x384"),
    (12, 4, 32, "512x288"),
    (16, 6, 90, "480x360"),
]
SITE_VAL = (30, 2, 32, "480x360")


def prepare_sites(out_json: Path, log=print) -> Dict[str, List[str]]:
    train: List[str] = []
    val: List[str] = []
    for si, site in enumerate(SITES_TRAIN):
        base = 10000 + 1000 * si
        for kind in ("ultrasound", "endoscopy"):
            for off, count, frames, size in SITE_PLAN:
                train += [str(p.relative_to(REPO)) for p in
                          build_dataset([(kind, base + off, count, frames, size)], WORK / "clips-sites",
                                        WORK / "cache-sites", log, site=site)]
            off, count, frames, size = SITE_VAL
            val += [str(p.relative_to(REPO)) for p in
                    build_dataset([(kind, base + off, count, frames, size)], WORK / "clips-sites",
                                  WORK / "cache-sites", log, site=site)]
    spec = {"train": train, "val": val}
    out_json.write_text(json.dumps(spec, indent=1))
    log(f"{len(train)} train clips, {len(val)} val clips over sites {','.join(SITES_TRAIN)} -> {out_json}")
    return spec


def prepare(out_json: Path, clip_root: Path = WORK / "clips", cache_dir: Path = WORK / "cache",
            plan=TRAIN_PLAN, kinds=("ultrasound", "endoscopy"), log=print) -> Dict[str, List[str]]:
    train: List[str] = []
    val: List[str] = []
    for s0, count, frames, size in plan:
        for kind in kinds:
            for p in build_dataset([(kind, s0, count, frames, size)], clip_root, cache_dir, log):
                (val if seed_of(p.stem) < plan[0][0] + VAL_PER_KIND else train).append(str(p.relative_to(REPO)))
    spec = {"train": train, "val": val}
    out_json.write_text(json.dumps(spec, indent=1))
    log(f"{len(train)} train clips, {len(val)} val clips -> {out_json}")
    return spec


def _selfcheck() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 40, 2)
        m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        assert np.array_equal(rle_decode(rle_encode(m)), m), "round trip failed"
    # pycocotools encodes a 3x3 mask with only the centre set as counts [4,1,4] -> "414"
    c = np.zeros((3, 3), np.uint8)
    c[1, 1] = 1
    assert rle_encode(c)["counts"] == "414"
    print("rle ok")


if __name__ == "__main__":
    # python3 -m models.tiny.data [selfcheck|prepare]
    cmd = sys.argv[1] if len(sys.argv) > 1 else "selfcheck"
    if cmd == "prepare":
        prepare(WORK / "data.json")
    elif cmd == "prepare-long":
        # short + long clips; validation stays the short plan's held-in seeds
        short = prepare(WORK / "data.json")
        long = prepare(WORK / "data-long.json", plan=[(s0 + 0, c, f, sz) for s0, c, f, sz in LONG_PLAN])
        spec = {"train": short["train"] + long["train"] + long["val"], "val": short["val"]}
        (WORK / "data-long.json").write_text(json.dumps(spec, indent=1))
    elif cmd == "prepare-sites":
        prepare_sites(WORK / "data-sites.json")
    elif cmd == "prepare-exit":
        # stage 3: data-long.json's training clips plus the exit clips; same validation
        spec = json.loads((WORK / "data-long.json").read_text())
        extra: List[str] = []
        for s0, count, frames, size in EXIT_PLAN:
            extra += [str(p.relative_to(REPO)) for p in
                      build_dataset([("ultrasound", s0, count, frames, size)], WORK / "clips-exit",
                                    WORK / "cache", exit_rate=1.0)]
        spec = {"train": spec["train"] + extra, "val": spec["val"]}
        (WORK / "data-exit.json").write_text(json.dumps(spec, indent=1))
        print(f"{len(spec['train'])} train clips ({len(extra)} exit clips), {len(spec['val'])} val clips")
    else:
        _selfcheck()
