"""A CPU stand-in for Meta's `sam2._C` (the CUDA extension built from sam2/csrc/connected_components.cu).

SAM 2 uses one function of `_C`: `get_connected_componnets` (sic, Meta's spelling) through
`sam2.utils.misc.get_connected_components`, for hole filling (`fill_holes_in_mask_scores`, the
video predictor's `fill_hole_area`) and the image predictor's hole / sprinkle removal. When `_C`
is not built, or is built for CUDA and the reference runs on the CPU (its kernel asserts CUDA
tensors), Meta's code catches the error, warns, and skips hole filling; the engine
(engine/src/mask/fill-holes.ts) always fills holes, so a parity run would then compare two
different post-processings. `install()` puts this module in `_C`'s place.

Contract, as the CUDA kernel's: input uint8 [N, 1, H, W] (non-zero = foreground); outputs
`[labels, counts]`, both int32 [N, 1, H, W] on the input's device: 8-connected components,
`labels` > 0 on foreground (one value per component, unique across the batch) and 0 on
background, `counts` the component's pixel count on its pixels and 0 on background. Label values
differ from the kernel's (which numbers components by a block representative), which SAM 2 never
reads: it only tests `labels > 0` and compares `counts` with an area.

Our own code (torch, no scipy): labels start as each foreground pixel's flat index + 1 and every
pass takes the maximum over the 3x3 neighbourhood, kept on foreground only, until nothing
changes, each pass also taking the label of the pixel a label names (pointer jumping); a
component ends with its largest index. Checked against scipy.ndimage.label on random masks
(test/models/parity-connected-components.test.ts).
"""
from __future__ import annotations

import sys
from typing import List

import torch
import torch.nn.functional as F


def get_connected_componnets(inputs: torch.Tensor) -> List[torch.Tensor]:  # noqa: N802 (Meta's name)
    if inputs.dim() != 4 or inputs.shape[1] != 1:
        raise ValueError(f"inputs must be [N, 1, H, W], got {tuple(inputs.shape)}")
    n, _, h, w = inputs.shape
    device = inputs.device
    fg = inputs.to("cpu") != 0
    # float64 holds every index exactly up to 2^53; max_pool2d has no integer kernel on the CPU.
    idx = torch.arange(1, n * h * w + 1, dtype=torch.float64).view(n, 1, h, w)
    labels = torch.where(fg, idx, torch.zeros_like(idx))
    while True:
        grown = torch.where(fg, F.max_pool2d(labels, kernel_size=3, stride=1, padding=1), labels)
        # Pointer jumping: a label is the index + 1 of a pixel of the same component, whose own
        # label is at least as large; taking it carries labels across a component in few passes.
        flat = grown.view(-1)
        jumped = torch.where(flat > 0, flat[(flat.long() - 1).clamp(min=0)], flat)
        grown = torch.maximum(grown, jumped.view_as(grown))
        if torch.equal(grown, labels):
            break
        labels = grown
    flat = labels.view(-1).long()
    areas = torch.bincount(flat, minlength=n * h * w + 1)
    areas[0] = 0  # background
    counts = areas[flat].view(n, 1, h, w)
    return [labels.to(torch.int32).to(device), counts.to(torch.int32).to(device)]


get_connected_components = get_connected_componnets


def install(device: str = "cpu") -> str:
    """Makes `from sam2 import _C` give a working connected-components op on `device`.

    Returns what SAM 2 will use: "meta" (its own extension, built and on CUDA) or "stand-in";
    says so on stderr when it is the stand-in, and why. Needs `sam2` importable (the --official
    checkout on sys.path)."""
    import sam2

    reason = None
    try:
        from sam2 import _C as meta  # noqa: N811
        if not hasattr(meta, "get_connected_componnets"):
            reason = f"sam2._C ({getattr(meta, '__file__', '?')}) has no get_connected_componnets"
        elif not str(device).startswith("cuda"):
            reason = "sam2._C is Meta's CUDA kernel and the reference runs on the CPU (it would refuse CPU tensors)"
    except ImportError as e:
        reason = f"sam2._C is not built ({e})"
    if reason is None:
        return "meta"
    this = sys.modules[__name__]
    sys.modules["sam2._C"] = this
    sam2._C = this
    print(f"parity: {reason}; without it Meta's predictor would skip hole filling (the engine fills holes). "
          f"Using the CPU stand-in models/parity/connected_components.py (8-connected components) instead.",
          file=sys.stderr, flush=True)
    return "stand-in"
