"""Small building blocks shared by every part of the model.

Attention is written out (matmul, softmax, matmul) instead of calling
F.scaled_dot_product_attention: that function does not exist in torch 1.13 and the
explicit form exports to plain ONNX MatMul/Softmax on every opset.
"""
from __future__ import annotations

import math
from typing import Optional, Type

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    """`num_layers` Linear layers with an activation between them (keys: layers.{i})."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int,
                 activation: Type[nn.Module] = nn.ReLU, sigmoid_output: bool = False) -> None:
        super().__init__()
        self.num_layers = num_layers
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims_in, dims_out))
        self.sigmoid_output = sigmoid_output
        self.act = activation()

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < self.num_layers - 1:
                x = self.act(x)
        return torch.sigmoid(x) if self.sigmoid_output else x


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor (ConvNeXt / SAM style)."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        u = x.mean(1, keepdim=True)
        d = x - u
        s = (d * d).mean(1, keepdim=True)
        x = d / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def attention(q: Tensor, k: Tensor, v: Tensor, dropout_p: float = 0.0, training: bool = False) -> Tensor:
    """softmax(q k^T / sqrt(d)) v on [..., L, d] tensors.

    q is scaled before the product (not the logits after) so the logits of long memories
    stay in range when a graph is run in reduced precision.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    logits = torch.matmul(q * scale, k.transpose(-2, -1))  # [..., Lq, Lk]
    attn = torch.softmax(logits, dim=-1)
    if dropout_p > 0.0 and training:
        attn = F.dropout(attn, p=dropout_p)
    return torch.matmul(attn, v)  # [..., Lq, d]


def drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth (per-sample residual dropout); identity at eval."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class Attention(nn.Module):
    """SAM attention with optional channel downsampling and a different key/value width.

    Keys match the official `Attention`: q_proj, k_proj, v_proj, out_proj.
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1,
                 dropout: float = 0.0, kv_in_dim: Optional[int] = None) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.kv_in_dim = kv_in_dim if kv_in_dim is not None else embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads != 0:
            raise ValueError("num_heads must divide embedding_dim // downsample_rate")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)
        self.dropout_p = dropout

    def _split(self, x: Tensor) -> Tensor:
        # [B, L, H*d] -> [B, H, L, d]; -1 keeps L symbolic in ONNX.
        b = x.shape[0]
        return x.reshape(b, -1, self.num_heads, self.internal_dim // self.num_heads).transpose(1, 2)

    def _merge(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        return x.transpose(1, 2).reshape(b, -1, self.internal_dim)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        q = self._split(self.q_proj(q))
        k = self._split(self.k_proj(k))
        v = self._split(self.v_proj(v))
        out = attention(q, k, v, self.dropout_p, self.training)
        return self.out_proj(self._merge(out))
