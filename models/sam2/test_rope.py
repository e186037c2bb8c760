"""RoPE in real arithmetic == the complex-number formulation of the official code.

The reference below re-implements `compute_axial_cis` / `apply_rotary_enc` with
torch.polar and view_as_complex (as facebookresearch/sam2 position_encoding.py does),
including the per-frame repeat of the table for multi-frame memory keys and the
exclusion of trailing pointer tokens. Our RoPEAttention is checked against an attention
written with that reference.

Run: cd /work/main && /usr/bin/python3 -m models.sam2.test_rope
"""
from __future__ import annotations

import math
import sys

import torch


def complex_cis(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    tx, ty = t % end_x, torch.div(t, end_x, rounding_mode="floor")
    fx, fy = torch.outer(tx, freqs), torch.outer(ty, freqs)
    return torch.cat([torch.polar(torch.ones_like(fx), fx), torch.polar(torch.ones_like(fy), fy)], dim=-1)


def complex_rotate(x: torch.Tensor, cis: torch.Tensor) -> torch.Tensor:
    """x [B, H, L, d]; cis [L', d/2] with L a multiple of L' (repeat over frames)."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    r = xc.shape[-2] // cis.shape[0]
    cis_r = cis.unsqueeze(0).expand(r, -1, -1).reshape(-1, cis.shape[-1])  # frame-major repeat
    return torch.view_as_real(xc * cis_r).flatten(3)


def reference_rope_attention(attn, q, k, v, num_k_exclude_rope: int) -> torch.Tensor:
    """Official RoPEAttention.forward semantics with complex numbers."""
    qh = attn._split(attn.q_proj(q))
    kh = attn._split(attn.k_proj(k))
    vh = attn._split(attn.v_proj(v))
    side = int(math.sqrt(qh.shape[-2]))
    cis = complex_cis(attn.head_dim, side, side, attn.rope_theta)
    n = kh.shape[-2] - num_k_exclude_rope
    qh = complex_rotate(qh, cis)
    kh = torch.cat([complex_rotate(kh[:, :, :n], cis), kh[:, :, n:]], dim=2)
    w = torch.softmax(qh @ kh.transpose(-2, -1) / math.sqrt(qh.shape[-1]), dim=-1)
    out = (w @ vh).transpose(1, 2).reshape(q.shape[0], -1, attn.internal_dim)
    return attn.out_proj(out)


def run() -> int:
    from models.sam2.memory import RoPEAttention
    from models.sam2.position import apply_rope, axial_rope_angles

    torch.manual_seed(0)
    fails = 0
    # 1) The rotation itself, several head widths and grids (incl. non-square d/4 splits).
    for d, side in ((16, 4), (64, 8), (256, 16), (32, 64)):
        x = torch.randn(2, 3, side * side, d)
        ang = axial_rope_angles(d, side, side)
        ours = apply_rope(x, ang.cos(), ang.sin())
        ref = complex_rotate(x, complex_cis(d, side, side))
        err = (ours - ref).abs().max().item()
        ok = err < 1e-5
        fails += not ok
        print(f"rotate d={d} grid={side}x{side}: max|diff|={err:.2e} {'OK' if ok else 'FAIL'}")
    # 2) Full cross-attention: 3 memory frames + 8 pointer tokens, kv width != q width.
    for heads in (1, 2):
        attn = RoPEAttention(64, heads, feat_size=8, rope_k_repeat=True, kv_in_dim=16).eval()
        q = torch.randn(2, 64, 64)
        k = torch.randn(2, 3 * 64 + 8, 16)
        v = torch.randn(2, 3 * 64 + 8, 16)
        with torch.no_grad():
            ours = attn(q, k, v, num_k_exclude_rope=8)
            ref = reference_rope_attention(attn, q, k, v, 8)
            # The split entry point used by the graphs must agree too.
            split = attn.forward_split(q, k[:, :192], v[:, :192], k[:, 192:], v[:, 192:])
        err = max((ours - ref).abs().max().item(), (split - ref).abs().max().item())
        ok = err < 1e-5
        fails += not ok
        print(f"RoPE cross-attention heads={heads}: max|diff|={err:.2e} {'OK' if ok else 'FAIL'}")
    # 3) Self-attention (no repeat, no exclusion).
    attn = RoPEAttention(32, 1, feat_size=4).eval()
    x = torch.randn(3, 16, 32)
    with torch.no_grad():
        err = (attn(x, x, x) - reference_rope_attention(attn, x, x, x, 0)).abs().max().item()
    ok = err < 1e-5
    fails += not ok
    print(f"RoPE self-attention: max|diff|={err:.2e} {'OK' if ok else 'FAIL'}")
    print("FAIL" if fails else "PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(run())
