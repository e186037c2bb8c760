"""Reference video tracker: SAM2VideoPredictor semantics on top of the four graph stages.

Faithful and simple rather than fast: one object per call (objects are tracked
independently since the 2024-12-11 release, so several objects = several calls), all
prompts given up front, then one propagation pass. It mirrors, from facebookresearch/sam2:
- add_new_points_or_box / add_new_mask: prompted frames are initial conditioning frames;
  clicks use `vision_feat + no_mem_embed`, multimask for <= 1 point, else single mask with
  the dynamic-stability fallback; a mask prompt is used as the output directly
  (`_use_mask_as_output`), the decoder only producing its pointer from the *raw* features
  and `mask_downsample(mask)`;
- propagate_in_video_preflight: the memory of a prompted frame is encoded from its
  (hole-filled) low-res output upsampled to S and *binarised* (is_mask_from_pts=True);
- _prepare_memory_conditioned_features: memory and pointer selection (select_memory());
- track_step on other frames: multimask while tracking, memory from sigmoid(high-res).
The TypeScript tracker must reproduce this; the parity tool compares against it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .model import SAM2Model


@dataclass
class Prompt:
    """Prompt of one object on one frame, in the S x S model frame.

    points: [N, 2] (x, y) pixels; labels: [N] (1 pos, 0 neg, 2/3 box corners); or
    mask: [S, S] (bool or 0/1). A box is two points labelled 2 and 3, placed first.
    """
    points: Optional[Tensor] = None
    labels: Optional[Tensor] = None
    mask: Optional[Tensor] = None


@dataclass
class FrameOutput:
    low_res_masks: Tensor  # [1, 1, 4h, 4w] logits (hole-filled, as the predictor returns)
    obj_ptr: Tensor  # [1, C]
    object_score_logits: Tensor  # [1, 1]
    iou: Tensor  # [1, 1]
    maskmem_features: Optional[Tensor] = None  # [1, Cm, h, w]
    is_cond: bool = False
    extra: Dict[str, object] = field(default_factory=dict)


def fill_holes(logits: Tensor, max_area: int) -> Tensor:
    """`fill_holes_in_mask_scores`: background (<= 0) 8-connected components of area <=
    max_area become 0.1. Components touching the border count too, as in SAM 2."""
    if max_area <= 0:
        return logits
    out = logits.clone()
    for b in range(logits.shape[0]):
        bg = (logits[b, 0] <= 0).cpu().numpy()
        H, W = bg.shape
        label = np.zeros((H, W), dtype=np.int32)
        n = 0
        for y0, x0 in zip(*np.nonzero(bg)):
            if label[y0, x0]:
                continue
            n += 1
            label[y0, x0] = n
            stack, comp = [(y0, x0)], []
            while stack:
                y, x = stack.pop()
                comp.append((y, x))
                for yy in range(max(y - 1, 0), min(y + 2, H)):
                    for xx in range(max(x - 1, 0), min(x + 2, W)):
                        if bg[yy, xx] and not label[yy, xx]:
                            label[yy, xx] = n
                            stack.append((yy, xx))
            if len(comp) <= max_area:
                for y, x in comp:
                    out[b, 0, y, x] = 0.1
    return out


def stability_scores(logits: Tensor, delta: float) -> Tensor:
    """[B, M, H, W] -> [B, M]: area(> delta) / area(> -delta), 1 where the latter is 0."""
    f = logits.flatten(-2)
    inter = (f > delta).sum(-1).float()
    union = (f > -delta).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def select_outputs(low: Tensor, ious: Tensor, ptrs: Tensor, multimask: bool, dynamic: bool = True,
                   delta: float = 0.05, thresh: float = 0.98) -> Tuple[Tensor, Tensor, Tensor]:
    """Token choice of `_forward_sam_heads` on the 4-token decoder outputs (B = 1 or more).

    multimask: best predicted IoU among tokens 1..3, pointer from the same token.
    single: token 0, unless unstable (dynamic) -> best of 1..3 for mask and IoU, pointer
    stays token 0. Returns low [B,1,H,W], iou [B,1], ptr [B,C].
    """
    b = torch.arange(low.shape[0])
    best = torch.argmax(ious[:, 1:], dim=-1) + 1
    if multimask:
        return low[b, best][:, None], ious[b, best][:, None], ptrs[b, best]
    if dynamic:
        stable = stability_scores(low[:, 0:1], delta)[:, 0] >= thresh
        tok = torch.where(stable, torch.zeros_like(best), best)
        return low[b, tok][:, None], ious[b, tok][:, None], ptrs[:, 0]
    return low[:, 0:1], ious[:, 0:1], ptrs[:, 0]


def select_memory(model: SAM2Model, frame_idx: int, cond: Dict[int, FrameOutput], non_cond: Dict[int, FrameOutput],
                  num_frames: Optional[int], reverse: bool = False, max_cond_frames: int = -1,
                  stride: int = 1) -> Tuple[List[Tuple[int, FrameOutput]], List[Tuple[int, FrameOutput]]]:
    """`_prepare_memory_conditioned_features` selection for a non-initial frame.

    Returns ([(t_pos, out)] spatial memories, [(signed_or_abs_distance, out)] pointers) in
    the official concatenation order. tpos index into maskmem_tpos_enc = num_maskmem - t_pos - 1.
    """
    cfg = model.cfg
    # Conditioning frames: all, or the temporally closest max_cond_frames.
    if max_cond_frames == -1 or len(cond) <= max_cond_frames:
        selected, unselected = dict(cond), {}
    else:
        selected = {}
        before = max((t for t in cond if t < frame_idx), default=None)
        after = min((t for t in cond if t >= frame_idx), default=None)
        for t in (before, after):
            if t is not None:
                selected[t] = cond[t]
        rest = sorted((t for t in cond if t not in selected), key=lambda t: abs(t - frame_idx))
        for t in rest[: max_cond_frames - len(selected)]:
            selected[t] = cond[t]
        unselected = {t: v for t, v in cond.items() if t not in selected}
    mems: List[Tuple[int, FrameOutput]] = [(0, out) for out in selected.values()]
    for t_pos in range(1, cfg.num_maskmem):
        t_rel = cfg.num_maskmem - t_pos
        if t_rel == 1:
            prev = frame_idx + 1 if reverse else frame_idx - 1
        elif not reverse:
            prev = ((frame_idx - 2) // stride) * stride - (t_rel - 2) * stride
        else:
            prev = -(-(frame_idx + 2) // stride) * stride + (t_rel - 2) * stride
        out = non_cond.get(prev, unselected.get(prev))
        if out is not None:
            mems.append((t_pos, out))
    # Object pointers.
    max_ptrs = min(num_frames, cfg.max_obj_ptrs_in_encoder) if num_frames is not None else cfg.max_obj_ptrs_in_encoder
    sign = -1 if reverse else 1
    ptrs: List[Tuple[int, FrameOutput]] = []
    for t, out in selected.items():
        if (t >= frame_idx) if reverse else (t <= frame_idx):  # only_obj_ptrs_in_the_past_for_eval
            d = (frame_idx - t) * sign if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(frame_idx - t)
            ptrs.append((d, out))
    for t_diff in range(1, max_ptrs):
        t = frame_idx + t_diff if reverse else frame_idx - t_diff
        if t < 0 or (num_frames is not None and t >= num_frames):
            break
        out = non_cond.get(t, unselected.get(t))
        if out is not None:
            ptrs.append((t_diff, out))
    return mems, ptrs


def condition_on_memory(model: SAM2Model, vision_feat: Tensor, mems: List[Tuple[int, FrameOutput]],
                        ptrs: List[Tuple[int, FrameOutput]], max_ptrs: int, bf16: bool = False) -> Tensor:
    """Build the memoryAttention inputs exactly as the engine does and run `condition`."""
    feats = []
    for _, o in mems:
        assert o.maskmem_features is not None
        f = o.maskmem_features
        feats.append(f.to(torch.bfloat16).float() if bf16 else f)
    memory = torch.stack(feats, dim=1)  # [1, Nm, Cm, h, w]
    memory_tpos = torch.tensor([model.num_maskmem - t_pos - 1 for t_pos, _ in mems], dtype=torch.int64)
    if ptrs:
        obj_ptrs = torch.stack([o.obj_ptr for _, o in ptrs], dim=1)  # [1, Np, C]
        if model.cfg.add_tpos_enc_to_obj_ptrs:
            tpos = torch.tensor([float(d) for d, _ in ptrs]) / float(max(max_ptrs - 1, 1))
        else:
            tpos = torch.zeros(len(ptrs))
    else:
        obj_ptrs, tpos = None, None
    return model.condition(vision_feat, memory, memory_tpos, obj_ptrs, tpos)


@torch.no_grad()
def track_video(model: SAM2Model, frames: Union[Tensor, Callable[[int], Tensor]], prompts: Dict[int, Prompt],
                num_frames: Optional[int] = None, reverse: bool = False, start_frame: Optional[int] = None,
                max_frames: Optional[int] = None, fill_hole_area: int = 8, bf16_memory: bool = False,
                max_cond_frames: int = -1) -> Dict[int, FrameOutput]:
    """Track one object. frames: [T, 3, S, S] normalised, or idx -> [1, 3, S, S].

    Returns {frame_idx: FrameOutput} for the prompted and propagated frames.
    `bf16_memory=True` rounds stored memories to bfloat16 like SAM2VideoPredictor does.
    """
    model.eval()
    cfg = model.cfg
    S = model.image_size
    if isinstance(frames, Tensor):
        frame_tensor = frames
        T = frames.shape[0]
        get = lambda i: frame_tensor[i: i + 1]  # noqa: E731
    else:
        get = frames
        if num_frames is None:
            raise ValueError("num_frames is required with a frame callable")
        T = num_frames
    if num_frames is None:
        num_frames = T
    cache: Dict[int, Tuple[Tensor, Tensor, Tensor]] = {}

    def feats(i: int) -> Tuple[Tensor, Tensor, Tensor]:
        if i not in cache:
            cache.clear()  # one frame at a time is enough for a forward pass
            cache[i] = model.encode_image(get(i))
        return cache[i]

    h4 = 4 * cfg.feat_size
    no_pts = (torch.zeros(1, 1, 2), -torch.ones(1, 1))
    no_mask = (torch.zeros(1, 1, h4, h4), torch.zeros(1))
    cond: Dict[int, FrameOutput] = {}
    non_cond: Dict[int, FrameOutput] = {}

    # --- prompts: initial conditioning frames, no memory.
    for fi in sorted(prompts):
        p = prompts[fi]
        vf, hr0, hr1 = feats(fi)
        if p.mask is not None:
            m = p.mask.float().reshape(1, 1, S, S)
            high = m * 20.0 - 10.0
            low = F.interpolate(high, size=(S // 4, S // 4), mode="bilinear", align_corners=False, antialias=True)
            _, _, ptrs, _ = model.decode(vf, hr0, hr1, no_pts[0], no_pts[1], model.mask_downsample(m), torch.ones(1))
            lam = (m.flatten(1) > 0).any(dim=1, keepdim=True).float()  # presence from the mask itself
            ptr = lam * ptrs[:, 0] + (1 - lam) * model.no_obj_ptr
            out = FrameOutput(fill_holes(low, fill_hole_area), ptr, 20.0 * lam - 10.0, torch.ones(1, 1), is_cond=True)
        else:
            assert p.points is not None and p.labels is not None
            pts, labs = p.points.float().reshape(1, -1, 2), p.labels.float().reshape(1, -1)
            n = pts.shape[1]
            multimask = 0 <= n <= 1  # multimask_output_in_sam with multimask_min/max_pt_num = 0/1
            low4, ious, ptrs, obj = model.decode(model.initial_embed(vf), hr0, hr1, pts, labs, *no_mask)
            low, iou, ptr = select_outputs(low4, ious, ptrs, multimask)
            out = FrameOutput(fill_holes(low, fill_hole_area), ptr, obj, iou, is_cond=True)
        # propagate_in_video_preflight: memory from the stored low-res output, binarised.
        high = F.interpolate(out.low_res_masks, size=(S, S), mode="bilinear", align_corners=False)
        out.maskmem_features = model.encode_memory(vf, (high > 0).float(), out.object_score_logits)
        cond[fi] = out

    # --- propagation.
    if not cond:
        raise ValueError("no prompts")
    start = min(cond) if start_frame is None else start_frame
    max_frames = num_frames if max_frames is None else max_frames
    if reverse:
        end = max(start - max_frames, 0)
        order = list(range(start, end - 1, -1)) if start > 0 else []
    else:
        end = min(start + max_frames, num_frames - 1)
        order = list(range(start, end + 1))
    results: Dict[int, FrameOutput] = {}
    max_ptrs = min(num_frames, cfg.max_obj_ptrs_in_encoder)
    for fi in order:
        if fi in cond:
            results[fi] = cond[fi]
            continue
        vf, hr0, hr1 = feats(fi)
        mems, ptr_list = select_memory(model, fi, cond, non_cond, num_frames, reverse, max_cond_frames)
        pix = condition_on_memory(model, vf, mems, ptr_list, max_ptrs, bf16_memory)
        low4, ious, ptrs, obj = model.decode(pix, hr0, hr1, *no_pts, *no_mask)
        low, iou, ptr = select_outputs(low4, ious, ptrs, multimask=True)  # multimask_output_for_tracking
        high = F.interpolate(low, size=(S, S), mode="bilinear", align_corners=False)
        mem = model.encode_memory(vf, torch.sigmoid(high), obj)
        out = FrameOutput(fill_holes(low, fill_hole_area), ptr, obj, iou, maskmem_features=mem)
        non_cond[fi] = out
        results[fi] = out
    return results
