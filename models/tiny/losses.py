"""SAM 2 training losses (per the published recipe: focal x20 + dice x1 on the best of the
multimask outputs, IoU-prediction regression on every output, object-score BCE; frames where
the object is absent get no mask or IoU loss and only train the score head)."""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

W_FOCAL = 20.0
W_DICE = 1.0
W_IOU = 1.0
W_CLASS = 1.0


def focal_per_mask(logits: Tensor, target: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """[B, M, H, W] logits vs [B, 1, H, W] target -> [B, M] mean focal loss per mask."""
    target = target.expand_as(logits)
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.flatten(2).mean(-1)


def dice_per_mask(logits: Tensor, target: Tensor) -> Tensor:
    target = target.expand_as(logits).flatten(2)
    p = logits.sigmoid().flatten(2)
    num = 2 * (p * target).sum(-1)
    den = p.sum(-1) + target.sum(-1)
    return 1 - (num + 1) / (den + 1)


def actual_iou(logits: Tensor, target: Tensor) -> Tensor:
    pred = logits.flatten(2) > 0
    gt = target.expand_as(logits).flatten(2) > 0.5
    inter = (pred & gt).sum(-1).float()
    union = (pred | gt).sum(-1).float()
    return inter / union.clamp(min=1.0)


def frame_loss(hr_logits: Tensor, ious: Tensor, obj_score: Optional[Tensor], target: Tensor,
               mask_weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
    """Loss of one decoded frame for a batch.

    hr_logits [B, M, S, S] (M = 3 multimask outputs or 1), ious [B, M], obj_score [B, 1] or
    None, target [B, 1, S, S] in {0, 1}. mask_weight [B] (0 to skip mask/IoU loss of a sample,
    e.g. when the output is the prompt mask itself). Sums over the batch and divides by B.
    """
    B = hr_logits.shape[0]
    present = (target.flatten(1).sum(-1) > 0).float()  # [B]
    w = present if mask_weight is None else present * mask_weight
    focal = focal_per_mask(hr_logits, target)
    dice = dice_per_mask(hr_logits, target)
    combo = focal * W_FOCAL + dice * W_DICE
    best = combo.argmin(-1)
    idx = torch.arange(B)
    l_focal = (focal[idx, best] * w).sum() / B
    l_dice = (dice[idx, best] * w).sum() / B
    with torch.no_grad():
        iou_t = actual_iou(hr_logits, target)
    l_iou = (F.mse_loss(ious, iou_t, reduction="none").mean(-1) * w).sum() / B
    out = {"focal": l_focal, "dice": l_dice, "iou": l_iou}
    if obj_score is not None:
        out["class"] = F.binary_cross_entropy_with_logits(obj_score[:, 0], present, reduction="sum") / B
    total = W_FOCAL * l_focal + W_DICE * l_dice + W_IOU * l_iou
    if "class" in out:
        total = total + W_CLASS * out["class"]
    out["total"] = total
    return out
