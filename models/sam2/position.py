"""Position codes: 2-D sine (FPN and memory), random Fourier (prompts), 1-D sine
(pointer temporal distance) and axial RoPE in real arithmetic.

RoPE: the official code multiplies complex numbers (torch.polar / view_as_complex), which
neither torch 1.13's ONNX exporter nor ONNX itself supports. A complex product
(a + ib)(cos t + i sin t) is (a cos t - b sin t) + i(a sin t + b cos t), so we keep the
(even, odd) channel pairs as two real tensors and rotate them with precomputed cos/sin
tables; `test_rope.py` checks this against a complex-number implementation.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor, nn


def sine_grid_pe(num_pos_feats: int, h: int, w: int, temperature: float = 10000.0) -> Tensor:
    """`PositionEmbeddingSine(normalize=True)` for an h x w grid -> [1, num_pos_feats, h, w].

    Channels: first half encodes y, second half x; within each half, sin/cos alternate.
    """
    npf = num_pos_feats // 2
    scale = 2 * math.pi
    eps = 1e-6
    y = torch.arange(1, h + 1, dtype=torch.float32)
    x = torch.arange(1, w + 1, dtype=torch.float32)
    y = y / (y[-1] + eps) * scale
    x = x / (x[-1] + eps) * scale
    dim_t = torch.arange(npf, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / npf)
    py = y[:, None] / dim_t  # [h, npf]
    px = x[:, None] / dim_t  # [w, npf]
    py = torch.stack((py[:, 0::2].sin(), py[:, 1::2].cos()), dim=2).flatten(1)
    px = torch.stack((px[:, 0::2].sin(), px[:, 1::2].cos()), dim=2).flatten(1)
    pos = torch.cat((py[:, None, :].expand(h, w, npf), px[None, :, :].expand(h, w, npf)), dim=2)
    return pos.permute(2, 0, 1)[None].contiguous()


def sine_1d_pe(pos: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """`get_1d_sine_pe`: [...] -> [..., dim] as cat(sin, cos) (not interleaved)."""
    pe_dim = dim // 2
    dim_t = torch.arange(pe_dim, dtype=torch.float32, device=pos.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / pe_dim)
    e = pos.unsqueeze(-1) / dim_t.to(pos.dtype)
    return torch.cat([e.sin(), e.cos()], dim=-1)


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features for prompt points (SAM). The Gaussian matrix is a buffer in
    the official checkpoints, so it stays a (persistent) buffer here."""

    def __init__(self, num_pos_feats: int = 64, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords: Tensor) -> Tensor:
        # coords in [0, 1]^2, shape [..., 2] -> [..., 2 * num_pos_feats]
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix.to(coords.dtype)
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def dense(self, h: int, w: int) -> Tensor:
        """Code of every cell centre of an h x w grid -> [1, C, h, w]."""
        g = self.positional_encoding_gaussian_matrix
        ys = (torch.arange(h, dtype=g.dtype, device=g.device) + 0.5) / h
        xs = (torch.arange(w, dtype=g.dtype, device=g.device) + 0.5) / w
        grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self._pe_encoding(grid).permute(2, 0, 1)[None]

    def forward_with_coords(self, coords: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """coords in pixels (x, y) of an image_size = (H, W) frame -> [..., C]."""
        scale = torch.tensor([1.0 / image_size[1], 1.0 / image_size[0]], dtype=coords.dtype, device=coords.device)
        return self._pe_encoding(coords * scale)


def axial_rope_angles(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> Tensor:
    """Rotation angles of axial 2-D RoPE for an end_y x end_x grid -> [end_x * end_y, dim // 2].

    Same frequencies as `compute_axial_cis`: the first dim/4 pairs rotate with x, the
    last dim/4 with y; token i sits at (x = i % end_x, y = i // end_x).
    """
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = t % end_x
    t_y = torch.div(t, end_x, rounding_mode="floor")
    return torch.cat([torch.outer(t_x, freqs), torch.outer(t_y, freqs)], dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs (2j, 2j+1) of x [..., L, d] by angles with cos/sin [L, d/2].

    For keys spanning several memory frames, call with x reshaped to [..., Nm, L, d]:
    broadcasting repeats the table per frame exactly like `repeat_freqs_k`.
    """
    xp = x.reshape(x.shape[:-1] + (x.shape[-1] // 2, 2))
    a = xp[..., 0]
    b = xp[..., 1]
    cos = cos.to(x.dtype)
    sin = sin.to(x.dtype)
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return out.flatten(-2)
