"""Low-rank adapters (LoRA, Hu et al. 2021) for the nn.Linear layers of a SAM 2 model.

Why LoRA here: a site gives a handful of annotated clips; training every weight of memory
attention and the decoder on them over-fits and forgets, while rank-r updates of the attention
and MLP projections adapt the look of a new site with few parameters. The adapters are merged
back into the weights before export (W' = W + scale * B @ A), so a fine-tuned bundle has exactly
the base bundle's graphs, names and contract: the engine needs no LoRA support at all.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Tuple

import torch
from torch import Tensor, nn


class LoRALinear(nn.Module):
    """y = base(x) + scale * (x @ A^T) @ B^T with A [r, in], B [out, r]; B starts at zero so the
    wrapped layer is exactly the base layer at step 0."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.rank = rank
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        for p in self.base.parameters():
            p.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale

    def merged(self) -> nn.Linear:
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.scale * (self.lora_b @ self.lora_a))
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


# Module prefixes whose Linear layers get adapters, per target name (`--lora-targets`).
TARGETS: Dict[str, Tuple[str, ...]] = {
    "memory_attention": ("memory_attention.",),
    "mask_decoder": ("sam_mask_decoder.", "obj_ptr_proj"),
    "memory_encoder": ("memory_encoder.",),
    "image_encoder": ("image_encoder.",),
}


def _linear_paths(model: nn.Module, prefixes: Iterable[str]) -> List[str]:
    pre = tuple(prefixes)
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.startswith(pre)]


def _set(model: nn.Module, path: str, mod: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    if leaf.isdigit():
        owner[int(leaf)] = mod  # type: ignore[index]
    else:
        setattr(owner, leaf, mod)


def apply_lora(model: nn.Module, targets: Iterable[str], rank: int, alpha: float) -> List[str]:
    """Freezes the whole model and wraps the Linear layers under `targets` with adapters.
    Returns the wrapped module paths."""
    for p in model.parameters():
        p.requires_grad_(False)
    prefixes: List[str] = []
    for t in targets:
        if t not in TARGETS:
            raise ValueError(f"unknown LoRA target {t!r}; choose from {sorted(TARGETS)}")
        prefixes += TARGETS[t]
    paths = _linear_paths(model, prefixes)
    for path in paths:
        _set(model, path, LoRALinear(model.get_submodule(path), rank, alpha))
    return paths


def merge_lora(model: nn.Module) -> int:
    """Replaces every LoRALinear by a plain Linear with the update folded in; returns how many."""
    paths = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    for path in paths:
        _set(model, path, model.get_submodule(path).merged())  # type: ignore[operator]
    return len(paths)


def lora_state(model: nn.Module) -> Dict[str, Tensor]:
    """Only the adapter parameters (what a resumable checkpoint needs besides the base)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if ".lora_" in n}
