"""Memory attention (`memory_attention.*`) and memory encoder (`memory_encoder.*`)."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Attention, LayerNorm2d, attention
from .position import apply_rope, axial_rope_angles


class RoPEAttention(Attention):
    """Attention with axial RoPE on q and on the first keys.

    Keys are laid out as [spatial memory tokens (a whole number of h x w frames) |
    `num_k_exclude_rope` pointer tokens]; every memory frame gets the same rotation table
    as the query grid (the official `rope_k_repeat`). The cos/sin tables are
    non-persistent buffers: they are not in the official state dict.
    """

    def __init__(self, embedding_dim: int, num_heads: int, feat_size: int, rope_theta: float = 10000.0,
                 rope_k_repeat: bool = False, dropout: float = 0.0, kv_in_dim: Optional[int] = None) -> None:
        super().__init__(embedding_dim, num_heads, downsample_rate=1, dropout=dropout, kv_in_dim=kv_in_dim)
        self.rope_theta = rope_theta
        self.rope_k_repeat = rope_k_repeat
        self.head_dim = self.internal_dim // num_heads
        self._set_tables(feat_size)

    def _set_tables(self, side: int) -> None:
        ang = axial_rope_angles(self.head_dim, side, side, self.rope_theta)  # [side^2, d/2]
        self.register_buffer("rope_cos", ang.cos(), persistent=False)
        self.register_buffer("rope_sin", ang.sin(), persistent=False)

    def _check_tables(self, lq: int, device: torch.device) -> None:
        if self.rope_cos.shape[0] != lq:
            # Grid differs from the configured one (e.g. another image size at runtime).
            self._set_tables(int(round(math.sqrt(lq))))
            self.rope_cos = self.rope_cos.to(device)
            self.rope_sin = self.rope_sin.to(device)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_k_exclude_rope: int = 0) -> Tensor:
        """Official calling convention: the last `num_k_exclude_rope` keys are not rotated."""
        if num_k_exclude_rope > 0:
            n = k.shape[1] - num_k_exclude_rope
            return self.forward_split(q, k[:, :n], v[:, :n], k[:, n:], v[:, n:])
        return self.forward_split(q, k, v, None, None)

    def forward_split(self, q: Tensor, k: Tensor, v: Tensor, k_extra: Optional[Tensor],
                      v_extra: Optional[Tensor]) -> Tensor:
        """q [B, Lq, C]; k/v [B, Nm*Lq, Ckv] spatial keys (rotated); k_extra/v_extra
        [B, P, Ckv] pointer keys (not rotated). Projections act per token, so projecting
        the two groups apart and concatenating equals the official slice-and-rotate; it
        also keeps dynamic slicing out of the ONNX graph."""
        q = self._split(self.q_proj(q))  # [B, H, Lq, d]
        k = self._split(self.k_proj(k))  # [B, H, Nm*Lq, d]
        v = self._split(self.v_proj(v))
        self._check_tables(q.shape[-2], q.device)
        q = apply_rope(q, self.rope_cos, self.rope_sin)
        k = self.rope_keys(k)
        if k_extra is not None and v_extra is not None:
            k = torch.cat([k, self._split(self.k_proj(k_extra))], dim=2)
            v = torch.cat([v, self._split(self.v_proj(v_extra))], dim=2)
        out = attention(q, k, v, self.dropout_p, self.training)
        return self.out_proj(self._merge(out))

    def rope_keys(self, k: Tensor) -> Tensor:
        """Rotate [B, H, Nm * L, d] keys frame by frame (L = grid tokens)."""
        L = self.rope_cos.shape[0]
        b, nh, _, d = k.shape
        if not self.rope_k_repeat:
            return apply_rope(k, self.rope_cos, self.rope_sin)
        kr = apply_rope(k.reshape(b, nh, -1, L, d), self.rope_cos, self.rope_sin)  # [B, H, Nm, L, d]
        return kr.reshape(b, nh, -1, d)


class MemoryAttentionLayer(nn.Module):
    """Self-attention (RoPE) -> cross-attention to memory (RoPE on spatial keys) -> FFN,
    all pre-norm. Queries carry no position code in cross-attention; keys do."""

    def __init__(self, d_model: int, dim_feedforward: int, num_heads: int, kv_dim: int, feat_size: int,
                 dropout: float = 0.1, rope_theta: float = 10000.0) -> None:
        super().__init__()
        self.self_attn = RoPEAttention(d_model, num_heads, feat_size, rope_theta, dropout=dropout)
        self.cross_attn_image = RoPEAttention(d_model, num_heads, feat_size, rope_theta, rope_k_repeat=True,
                                              dropout=dropout, kv_in_dim=kv_dim)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout_p = dropout

    def _drop(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.dropout_p, self.training) if self.dropout_p > 0 else x

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, ptr: Optional[Tensor] = None,
                ptr_pos: Optional[Tensor] = None) -> Tensor:
        """tgt [B, HW, C]; memory/pos [B|1, Nm*HW, Cm] spatial; ptr/ptr_pos [B|1, P, Cm]."""
        t2 = self.norm1(tgt)
        tgt = tgt + self._drop(self.self_attn.forward_split(t2, t2, t2, None, None))
        t2 = self.norm2(tgt)
        if ptr is not None and ptr_pos is not None:
            ca = self.cross_attn_image.forward_split(t2, memory + pos, memory, ptr + ptr_pos, ptr)
        else:
            ca = self.cross_attn_image.forward_split(t2, memory + pos, memory, None, None)
        tgt = tgt + self._drop(ca)
        t2 = self.norm3(tgt)
        t2 = self.linear2(self._drop(F.relu(self.linear1(t2))))
        return tgt + self._drop(t2)


class MemoryAttention(nn.Module):
    def __init__(self, d_model: int, num_layers: int, dim_feedforward: int, num_heads: int, kv_dim: int,
                 feat_size: int, dropout: float = 0.1, rope_theta: float = 10000.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MemoryAttentionLayer(d_model, dim_feedforward, num_heads, kv_dim, feat_size, dropout, rope_theta)
            for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        # Every RoPE attention uses the same grid and head width: share one cos/sin pair so an
        # export stores it once (ONNX initializers are de-duplicated by tensor identity).
        first = self.layers[0].self_attn
        for layer in self.layers:
            for attn in (layer.self_attn, layer.cross_attn_image):
                if attn.rope_cos.shape == first.rope_cos.shape:
                    attn.rope_cos = first.rope_cos
                    attn.rope_sin = first.rope_sin

    def forward(self, curr: Tensor, curr_pos: Tensor, memory: Tensor, memory_pos: Tensor,
                ptr: Optional[Tensor] = None, ptr_pos: Optional[Tensor] = None) -> Tensor:
        """curr [B, HW, C], curr_pos [1|B, HW, C], spatial memory/memory_pos [B|1, Nm*HW, Cm],
        pointer tokens ptr/ptr_pos [B|1, P, Cm] (no RoPE) -> [B, HW, C]."""
        out = curr + 0.1 * curr_pos  # pos_enc_at_input
        for layer in self.layers:
            out = layer(out, memory, memory_pos, ptr, ptr_pos)
        return self.norm(out)


class MaskDownSampler(nn.Module):
    """Mask [B,1,S,S] -> [B,C,S/16,S/16] by 4 (conv3x3/2 -> LayerNorm2d -> GELU) stages
    (channels x4 each) then a 1x1 conv. Keys: encoder.{0..12}.*"""

    def __init__(self, embed_dim: int, kernel_size: int = 3, stride: int = 2, padding: int = 1,
                 total_stride: int = 16) -> None:
        super().__init__()
        num_layers = int(round(math.log2(total_stride) / math.log2(stride)))
        self.encoder = nn.Sequential()
        cin = 1
        for _ in range(num_layers):
            cout = cin * stride * stride
            self.encoder.add_module(str(len(self.encoder)), nn.Conv2d(cin, cout, kernel_size=kernel_size, stride=stride, padding=padding))
            self.encoder.add_module(str(len(self.encoder)), LayerNorm2d(cout))
            self.encoder.add_module(str(len(self.encoder)), nn.GELU())
            cin = cout
        self.encoder.add_module(str(len(self.encoder)), nn.Conv2d(cin, embed_dim, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise 7x7 -> LayerNorm2d -> MLP x4 (as Linear) -> layer scale."""

    def __init__(self, dim: int, kernel_size: int = 7, padding: int = 3, layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=padding, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, dim: int, num_layers: int) -> None:
        super().__init__()
        self.proj = nn.Identity()
        self.layers = nn.ModuleList(CXBlock(dim) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """pix_feat_proj(features) + mask_downsampler(mask) -> fuser -> out_proj (C -> Cm).
    The position code of the result is a fixed sine grid and is built where it is used."""

    def __init__(self, in_dim: int, out_dim: int, fuser_layers: int) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler(in_dim)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(in_dim, fuser_layers)
        self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1) if out_dim != in_dim else nn.Identity()

    def forward(self, pix_feat: Tensor, mask: Tensor) -> Tensor:
        """pix_feat [1|B, C, h, w], mask (already scaled/biased) [B, 1, S, S] -> [B, Cm, h, w]."""
        m = self.mask_downsampler(mask)
        x = self.pix_feat_proj(pix_feat) + m
        return self.out_proj(self.fuser(x))
