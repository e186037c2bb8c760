"""Reference video inference for the tiny model, mirroring what the engine does with the four
graphs (SAM 2.1 video-predictor semantics, see /work/shared/SAM2-NOTES.md):

- the prompted frame is an initial conditioning frame: features + no_mem_embed, no memory;
  a mask prompt is used as the output directly (the decoder runs only for the pointer);
- later frames: memory = every conditioning frame (t_pos 0) + the previous 6 non-conditioning
  frames (t_pos 6..1), pointers of conditioning frames in the past and of the last 15 frames,
  signed distance / (min(num_frames, 16) - 1); decoded without prompt, multimask, best IoU;
- memory of tracked frames from sigmoid(logits) (binarised when the mask came from clicks).

With use_memory=False every later frame is decoded from features + no_mem_embed and no prompt,
the ablation the engine offers.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
NUM_MASKMEM = 7
MAX_PTRS = 16


def preprocess(frames_u8: np.ndarray) -> Tensor:
    """uint8 [N, S, S, 3] -> normalised float [N, 3, S, S]."""
    x = torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


def shift_slices(H: int, W: int, dy: int, dx: int) -> Tuple[Tuple[slice, slice], Tuple[slice, slice]]:
    """(source, destination) (rows, cols) slices that move an H x W image by (dy, dx) pixels:
    out[dst] = img[src]; what falls off the edge is dropped."""
    ys, yd = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
    xs, xd = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
    return (ys, xs), (yd, xd)


def no_prompt(B: int) -> Tuple[Tensor, Tensor]:
    return torch.zeros(B, 1, 2), -torch.ones(B, 1)


def upsample(low: Tensor, size) -> Tensor:
    return F.interpolate(low, size=size, mode="bilinear", align_corners=False)


def select_memory(t: int, cond: List[int], mems: Dict[int, Tensor], ptrs: Dict[int, Tensor],
                  reverse: bool, num_frames: Optional[int]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Memory bank selection of `_prepare_memory_conditioned_features` for frame t.

    Frames are given in clip order; `reverse` means tracking towards lower indices.
    Returns memory [B, Nm, Cm, h, w], memory_tpos [Nm] int64, obj_ptrs [B, Np, C], obj_ptr_tpos [Np].
    """
    sgn = -1 if reverse else 1
    mem_list, tpos = [], []
    for c in cond:
        mem_list.append(mems[c])
        tpos.append(NUM_MASKMEM - 0 - 1)
    for k in range(1, NUM_MASKMEM):  # t-1 (t_pos 6, index 0) .. t-6 (t_pos 1, index 5)
        j = t - sgn * k
        if j in mems and j not in cond:
            mem_list.append(mems[j])
            tpos.append(k - 1)
    max_ptrs = min(num_frames, MAX_PTRS) if num_frames else MAX_PTRS
    denom = max(max_ptrs - 1, 1)
    p_list, p_pos = [], []
    for c in cond:
        if (c - t) * sgn <= 0:  # only pointers from the past (in tracking direction)
            p_list.append(ptrs[c])
            p_pos.append((t - c) * sgn)
    for k in range(1, max_ptrs):
        j = t - sgn * k
        if j in ptrs and j not in cond:
            p_list.append(ptrs[j])
            p_pos.append(k)
    memory = torch.stack(mem_list, 1)
    memory_tpos = torch.tensor(tpos, dtype=torch.int64)
    obj_ptrs = torch.stack(p_list, 1)
    obj_ptr_tpos = torch.tensor(p_pos, dtype=torch.float32) / denom
    return memory, memory_tpos, obj_ptrs, obj_ptr_tpos


def encode_all(model, frames_u8: np.ndarray, chunk: int = 8) -> List[Tuple[Tensor, Tensor, Tensor]]:
    """Image-encoder outputs of every frame (shared by all objects and prompt variants)."""
    out = []
    with torch.no_grad():
        for i in range(0, frames_u8.shape[0], chunk):
            vf, h0, h1 = model.encode_image(preprocess(frames_u8[i:i + chunk]))
            out += [(vf[j:j + 1], h0[j:j + 1], h1[j:j + 1]) for j in range(vf.shape[0])]
    return out


@torch.no_grad()
def track(model, frames_u8: np.ndarray, prompt: Dict, start: int = 0, reverse: bool = False,
          use_memory: bool = True, out_size: Optional[Tuple[int, int]] = None,
          num_frames_for_ptrs: Optional[int] = MAX_PTRS, batch_encode: int = 8,
          feats_all: Optional[List[Tuple[Tensor, Tensor, Tensor]]] = None) -> np.ndarray:
    """Track one object through frames_u8 [T, S, S, 3] from `start`.

    prompt: {'mask': uint8 [S, S]} or {'points': [[x, y], ...], 'labels': [...]} in the S x S
    frame (labels 1/0, 2/3 for a box). Returns bool masks [T, H, W] (out_size or S x S); frames
    before `start` (after, when reverse) stay empty.
    """
    T, S = frames_u8.shape[0], frames_u8.shape[1]
    H, W = out_size if out_size else (S, S)
    out = np.zeros((T, H, W), dtype=bool)
    C = model.no_mem_embed.shape[-1]
    no_mem = model.no_mem_embed.reshape(1, C, 1, 1)
    order = list(range(start, -1, -1)) if reverse else list(range(start, T))
    mems: Dict[int, Tensor] = {}
    ptrs: Dict[int, Tensor] = {}
    cond = [start]
    feats: Dict[int, Tuple[Tensor, Tensor, Tensor]] = {}

    def get_feats(t):
        if feats_all is not None:
            return feats_all[t]
        if t not in feats:
            feats.clear()
            # encode a small chunk ahead in tracking order to amortise per-call overhead
            pos = order.index(t)
            chunk = order[pos:pos + batch_encode]
            vf, h0, h1 = model.encode_image(preprocess(frames_u8[chunk]))
            for i, j in enumerate(chunk):
                feats[j] = (vf[i:i + 1], h0[i:i + 1], h1[i:i + 1])
        return feats[t]

    for t in order:
        vf, h0, h1 = get_feats(t)
        if t == start:
            embed = vf + no_mem
            if "mask" in prompt:
                m = torch.from_numpy(prompt["mask"].astype(np.float32))[None, None]
                pc, pl = no_prompt(1)
                # `_use_mask_as_output`: the decoder runs on the raw features, only for the pointer
                _, _, ptr_all, _ = model.decode(vf, h0, h1, pc, pl, model.mask_downsample(m),
                                                torch.ones(1))
                hr = m * 20.0 - 10.0
                ptr = ptr_all[:, 0]
                score = torch.full((1, 1), 10.0 if m.sum() > 0 else -10.0)
                # propagate_in_video_preflight: memory from the stored low-res output, binarised
                low_m = F.interpolate(hr, size=(S // 4, S // 4), mode="bilinear", align_corners=False,
                                      antialias=True)
                mem_in = (upsample(low_m, (S, S)) > 0).float()
            else:
                pc = torch.tensor(prompt["points"], dtype=torch.float32)[None]
                pl = torch.tensor(prompt["labels"], dtype=torch.float32)[None]
                low, ious, ptr_all, score = model.decode(embed, h0, h1, pc, pl,
                                                         torch.zeros(1, 1, S // 4, S // 4), torch.zeros(1))
                best = int(ious[0, 1:].argmax()) + 1
                if pc.shape[1] <= 1:
                    k, kp = best, best
                else:
                    # single mask with the dynamic-stability fallback; the pointer stays token 0
                    f = low[0, 0].flatten()
                    union = float((f > -0.05).sum())
                    stable = union == 0 or float((f > 0.05).sum()) / union >= 0.98
                    k, kp = (0 if stable else best), 0
                hr = upsample(low[:, k:k + 1], (S, S))
                ptr = ptr_all[:, kp]
                mem_in = (hr > 0).float()
        else:
            if use_memory:
                memory, mt, op, opt = select_memory(t, cond, mems, ptrs, reverse, num_frames_for_ptrs)
                embed = model.condition(vf, memory, mt, op, opt)
            else:
                embed = vf + no_mem
            pc, pl = no_prompt(1)
            low, ious, ptr_all, score = model.decode(embed, h0, h1, pc, pl,
                                                     torch.zeros(1, 1, S // 4, S // 4), torch.zeros(1))
            k = int(ious[0, 1:].argmax()) + 1
            hr = upsample(low[:, k:k + 1], (S, S))
            ptr = ptr_all[:, k]
            mem_in = torch.sigmoid(hr)
        if use_memory:
            mems[t] = model.encode_memory(vf, mem_in, score)
            ptrs[t] = ptr
        # like the predictor, the video-size mask comes from the low-res logits (hr for a mask prompt)
        if (H, W) == (S, S):
            res = hr
        elif t == start and "mask" in prompt:
            res = upsample(hr, (H, W))
        else:
            res = upsample(low[:, k:k + 1], (H, W))
        out[t] = (res[0, 0] > 0).numpy()
    return out
