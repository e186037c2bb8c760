"""Hiera trunk (hierarchical ViT with windowed attention and query pooling) and the
FPN neck: `image_encoder.trunk.*` / `image_encoder.neck.*` in the official checkpoints."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import HieraConfig
from .layers import MLP, attention, drop_path


def window_partition(x: Tensor, ws: int) -> Tuple[Tensor, Tuple[int, int]]:
    """[B, H, W, C] -> [B * nWin, ws, ws, C], zero-padding H and W up to multiples of ws."""
    b, h, w, c = x.shape
    ph = (ws - h % ws) % ws
    pw = (ws - w % ws) % ws
    if ph or pw:
        x = F.pad(x, (0, 0, 0, pw, 0, ph))
    hp, wp = h + ph, w + pw
    x = x.reshape(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws, ws, c), (hp, wp)


def window_unpartition(x: Tensor, ws: int, pad_hw: Tuple[int, int], hw: Tuple[int, int]) -> Tensor:
    """Inverse of window_partition, dropping the padding."""
    hp, wp = pad_hw
    h, w = hw
    c = x.shape[-1]
    x = x.reshape(-1, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, hp, wp, c)
    if hp > h or wp > w:
        x = x[:, :h, :w, :]
    return x


class PatchEmbed(nn.Module):
    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # [B, H/4, W/4, C]


class MultiScaleAttention(nn.Module):
    def __init__(self, dim: int, dim_out: int, num_heads: int, q_stride: Optional[Tuple[int, int]]) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.dim_out = dim_out
        self.q_stride = q_stride
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        nh = self.num_heads
        qkv = self.qkv(x).reshape(b, h * w, 3, nh, -1)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, HW, nh, d]
        if self.q_stride is not None:
            # Query pooling: max-pool q on its (H, W) grid; keys/values keep full resolution.
            q = q.reshape(b, h, w, -1).permute(0, 3, 1, 2)
            q = F.max_pool2d(q, kernel_size=self.q_stride, stride=self.q_stride)
            h, w = q.shape[2], q.shape[3]
            q = q.permute(0, 2, 3, 1).reshape(b, h * w, nh, -1)
        out = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # [B, nh, L, d]
        out = out.transpose(1, 2).reshape(b, h, w, -1)
        return self.proj(out)


class MultiScaleBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, num_heads: int, mlp_ratio: float, drop_path_p: float,
                 q_stride: Optional[Tuple[int, int]], window_size: int) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.window_size = window_size
        self.q_stride = q_stride
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, q_stride)
        self.drop_path_p = drop_path_p
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, num_layers=2, activation=nn.GELU)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def _pool(self, x: Tensor) -> Tensor:
        if self.q_stride is None:
            return x
        x = F.max_pool2d(x.permute(0, 3, 1, 2), kernel_size=self.q_stride, stride=self.q_stride)
        return x.permute(0, 2, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x  # [B, H, W, C]
        x = self.norm1(x)
        if self.dim != self.dim_out:
            # The residual of a stage change is the pooled projection of the *normed* input.
            shortcut = self._pool(self.proj(x))
        ws = self.window_size
        h, w = x.shape[1], x.shape[2]
        pad_hw = (h, w)
        if ws > 0:
            x, pad_hw = window_partition(x, ws)
        x = self.attn(x)
        if self.q_stride is not None:
            # Pooled queries shrink the windows (and the grid) by the stride.
            ws = self.window_size // self.q_stride[0]
            h, w = shortcut.shape[1], shortcut.shape[2]
            pad_hw = (h + (ws - h % ws) % ws, w + (ws - w % ws) % ws) if ws > 0 else (h, w)
        if self.window_size > 0:
            x = window_unpartition(x, ws, pad_hw, (h, w))
        x = shortcut + drop_path(x, self.drop_path_p, self.training)
        x = x + drop_path(self.mlp(self.norm2(x)), self.drop_path_p, self.training)
        return x


class Hiera(nn.Module):
    def __init__(self, cfg: HieraConfig) -> None:
        super().__init__()
        stages = tuple(cfg.stages)
        if len(stages) != len(cfg.window_spec):
            raise ValueError("stages and window_spec must have the same length")
        depth = sum(stages)
        self.stage_ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
        q_pool_blocks = [e + 1 for e in self.stage_ends[:-1]][: cfg.q_pool]
        embed_dim, num_heads = cfg.embed_dim, cfg.num_heads
        self.patch_embed = PatchEmbed(embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *cfg.window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, embed_dim, cfg.window_spec[0], cfg.window_spec[0]))
        dpr = [float(v) for v in torch.linspace(0, cfg.drop_path_rate, depth)]
        self.blocks = nn.ModuleList()
        cur_stage = 1
        for i in range(depth):
            dim_out = embed_dim
            # The first block of a stage still uses the previous stage's window size
            # (its queries are pooled inside it), hence the lag by one block.
            window_size = cfg.window_spec[cur_stage - 1]
            if i in cfg.global_att_blocks:
                window_size = 0
            if i - 1 in self.stage_ends:
                dim_out = int(embed_dim * cfg.dim_mul)
                num_heads = int(num_heads * cfg.head_mul)
                cur_stage += 1
            self.blocks.append(MultiScaleBlock(
                embed_dim, dim_out, num_heads, cfg.mlp_ratio, dpr[i],
                tuple(cfg.q_stride) if i in q_pool_blocks else None, window_size))
            embed_dim = dim_out
        self.channel_list = [self.blocks[i].dim_out for i in self.stage_ends[::-1]]
        self._resize_mats: Optional[Tuple[Tensor, Tensor]] = None

    def get_pos_embed(self, h: int, w: int) -> Tensor:
        """Background code (bicubic-resized) plus the window code tiled -> [1, h, w, C]."""
        if self._resize_mats is not None and (self._resize_mats[0].shape[0], self._resize_mats[1].shape[0]) == (h, w):
            # Export path: the same bicubic resize written as two small matrix products.
            ay, ax = self._resize_mats
            pe = torch.matmul(torch.matmul(ay, self.pos_embed), ax.t())  # [1, C, h, w]
        else:
            pe = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic", align_corners=False)
        win = self.pos_embed_window
        reps = (h // win.shape[2], w // win.shape[3])
        pe = pe + win.repeat(1, 1, reps[0], reps[1])
        return pe.permute(0, 2, 3, 1)

    def freeze_pos_embed(self, h: int, w: int) -> None:
        """Prepare export for a fixed grid. Bicubic resizing is linear and separable, so it
        equals Ay @ P @ Ax^T with Ay [h, Hb], Ax [w, Wb] obtained by resizing identity
        matrices with torch itself: exact torch weights (ONNX Resize-cubic rounds
        differently) at a few kB, where baking the resized code in would cost h*w*C floats
        (25 MB for Hiera-T at 1024 px)."""
        hb, wb = self.pos_embed.shape[2], self.pos_embed.shape[3]

        def mat(n_in: int, n_out: int) -> Tensor:
            eye = torch.eye(n_in).reshape(n_in, 1, n_in, 1)
            r = F.interpolate(eye, size=(n_out, 1), mode="bicubic", align_corners=False)
            return r.reshape(n_in, n_out).t().contiguous()  # [n_out, n_in]

        self._resize_mats = (mat(hb, h), mat(wb, w))

    def unfreeze_pos_embed(self) -> None:
        self._resize_mats = None

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.patch_embed(x)
        x = x + self.get_pos_embed(x.shape[1], x.shape[2]).to(x.dtype)
        outputs: List[Tensor] = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))  # highest resolution first
        return outputs


class FpnNeck(nn.Module):
    """Lateral 1x1 convs plus nearest top-down fusion on `fpn_top_down_levels`.
    Keys: convs.{i}.conv.* where convs[0] takes the lowest-resolution trunk output."""

    def __init__(self, d_model: int, backbone_channel_list: Sequence[int],
                 fpn_top_down_levels: Sequence[int] = (2, 3)) -> None:
        super().__init__()
        self.d_model = d_model
        self.backbone_channel_list = list(backbone_channel_list)
        self.convs = nn.ModuleList()
        for dim in backbone_channel_list:
            seq = nn.Sequential()
            seq.add_module("conv", nn.Conv2d(dim, d_model, kernel_size=1))
            self.convs.append(seq)
        self.fpn_top_down_levels = list(fpn_top_down_levels)

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        n = len(self.convs) - 1
        out: List[Optional[Tensor]] = [None] * len(self.convs)
        prev: Optional[Tensor] = None
        for i in range(n, -1, -1):
            lateral = self.convs[n - i](xs[i])
            if i in self.fpn_top_down_levels and prev is not None:
                prev = lateral + F.interpolate(prev, scale_factor=2.0, mode="nearest")
            else:
                prev = lateral
            out[i] = prev
        return [o for o in out if o is not None]


class ImageEncoder(nn.Module):
    """Trunk + neck; `scalp=1` drops the stride-32 level, as in every official config."""

    def __init__(self, hiera_cfg: HieraConfig, d_model: int, scalp: int = 1) -> None:
        super().__init__()
        self.trunk = Hiera(hiera_cfg)
        self.neck = FpnNeck(d_model, self.trunk.channel_list)
        self.scalp = scalp

    def forward(self, image: Tensor) -> List[Tensor]:
        """[B, 3, S, S] -> [stride 4, stride 8, stride 16] maps of d_model channels."""
        feats = self.neck(self.trunk(image))
        return feats[: len(feats) - self.scalp] if self.scalp > 0 else feats
