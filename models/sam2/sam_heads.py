"""SAM prompt encoder, two-way transformer and mask decoder
(`sam_prompt_encoder.*`, `sam_mask_decoder.*`)."""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor, nn

from .layers import MLP, Attention, LayerNorm2d
from .position import PositionEmbeddingRandom


class PromptEncoder(nn.Module):
    def __init__(self, embed_dim: int, image_embedding_size: int, input_image_size: int, mask_in_chans: int = 16) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = (input_image_size, input_image_size)
        self.image_embedding_size = (image_embedding_size, image_embedding_size)
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # 0: negative point, 1: positive point, 2: box top-left, 3: box bottom-right
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size, 4 * image_embedding_size)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> Tensor:
        return self.pe_layer.dense(*self.image_embedding_size)  # [1, C, h, w]

    def embed_points(self, coords: Tensor, labels: Tensor) -> Tensor:
        """coords [B, N, 2] (x, y pixels of the S x S frame), labels [B, N] float -> [B, N+1, C].

        A padding point (0, 0, label -1) is always appended: the video model calls the
        prompt encoder with boxes=None, which makes SAM pad (`pad=True`).
        """
        b = coords.shape[0]
        coords = torch.cat([coords, coords.new_zeros(b, 1, 2)], dim=1) + 0.5  # pixel centres
        labels = torch.cat([labels, labels.new_full((b, 1), -1.0)], dim=1)
        pe = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        lab = labels.unsqueeze(-1)
        # Same sequence of where() as SAM, so a padding point gets exactly not_a_point_embed.
        pe = torch.where(lab == -1, torch.zeros_like(pe) + self.not_a_point_embed.weight, pe)
        for i in range(4):
            pe = torch.where(lab == float(i), pe + self.point_embeddings[i].weight, pe)
        return pe

    def embed_dense(self, mask_input: Tensor, has_mask_input: Tensor) -> Tensor:
        """mask_input [B, 1, 4h, 4w] logits, has_mask_input [B] (1/0) -> [B, C, h, w]."""
        from_mask = self.mask_downscaling(mask_input)
        no_mask = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand_as(from_mask)
        use = (has_mask_input > 0.5).reshape(-1, 1, 1, 1)
        return torch.where(use, from_mask, no_mask)


class TwoWayAttentionBlock(nn.Module):
    def __init__(self, embedding_dim: int, num_heads: int, mlp_dim: int, skip_first_layer_pe: bool,
                 attention_downsample_rate: int = 2) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(embedding_dim, num_heads, downsample_rate=attention_downsample_rate)
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLP(embedding_dim, mlp_dim, embedding_dim, num_layers=2, activation=nn.ReLU)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(embedding_dim, num_heads, downsample_rate=attention_downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor) -> Tuple[Tensor, Tensor]:
        if self.skip_first_layer_pe:
            # The first layer replaces (not adds to) the tokens: they already are their PE.
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        q = queries + query_pe
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q = queries + query_pe
        k = keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, depth: int, embedding_dim: int, num_heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(embedding_dim, num_heads, mlp_dim, skip_first_layer_pe=(i == 0)) for i in range(depth))
        self.final_attn_token_to_image = Attention(embedding_dim, num_heads, downsample_rate=2)
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor) -> Tuple[Tensor, Tensor]:
        """image [B, C, h, w], pe [1, C, h, w], tokens [B, T, C] -> (tokens [B,T,C], image [B,hw,C])."""
        keys = image_embedding.flatten(2).permute(0, 2, 1)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries, keys, point_embedding, key_pe)
        q = queries + point_embedding
        k = keys + key_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(q, k, keys))
        return queries, keys


class MaskDecoder(nn.Module):
    def __init__(self, transformer_dim: int, depth: int, num_heads: int, mlp_dim: int, iou_head_hidden_dim: int,
                 iou_prediction_use_sigmoid: bool, pred_obj_scores: bool, pred_obj_scores_mlp: bool,
                 num_multimask_outputs: int = 3) -> None:
        super().__init__()
        c = transformer_dim
        self.transformer = TwoWayTransformer(depth, c, num_heads, mlp_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, c)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, c)
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, c)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(c, c // 4, kernel_size=2, stride=2),
            LayerNorm2d(c // 4),
            nn.GELU(),
            nn.ConvTranspose2d(c // 4, c // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        # Applied once per frame in the image encoder graph (high-res features).
        self.conv_s0 = nn.Conv2d(c, c // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(c, c // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(c, c, c // 8, 3) for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = MLP(c, iou_head_hidden_dim, self.num_mask_tokens, 3,
                                       sigmoid_output=iou_prediction_use_sigmoid)
        if pred_obj_scores:
            self.pred_obj_score_head = MLP(c, c, 1, 3) if pred_obj_scores_mlp else nn.Linear(c, 1)

    def predict_masks(self, image_embeddings: Tensor, image_pe: Tensor, sparse: Tensor, dense: Tensor,
                      feat_s0: Tensor, feat_s1: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """All 4 mask tokens, unselected.

        image_embeddings [B, C, h, w]; sparse [B, N, C]; dense [B, C, h, w];
        feat_s0 [1|B, C/8, 4h, 4w]; feat_s1 [1|B, C/4, 2h, 2w]
        -> masks [B, 4, 4h, 4w], iou [B, 4], mask_tokens_out [B, 4, C], obj_score [B, 1].
        """
        b = sparse.shape[0]
        parts: List[Tensor] = []
        if self.pred_obj_scores:
            parts.append(self.obj_score_token.weight)
        parts += [self.iou_token.weight, self.mask_tokens.weight]
        out_tokens = torch.cat(parts, dim=0).unsqueeze(0).expand(b, -1, -1)
        tokens = torch.cat([out_tokens, sparse], dim=1)
        src = image_embeddings + dense
        _, c, h, w = src.shape
        hs, src = self.transformer(src, image_pe, tokens)
        s = 1 if self.pred_obj_scores else 0
        iou_token_out = hs[:, s, :]
        mask_tokens_out = hs[:, s + 1: s + 1 + self.num_mask_tokens, :]
        src = src.transpose(1, 2).reshape(b, c, h, w)
        dc1, ln1, act1, dc2, act2 = self.output_upscaling
        up = act1(ln1(dc1(src) + feat_s1))
        up = act2(dc2(up) + feat_s0)  # [B, C/8, 4h, 4w]
        hyper = torch.stack([mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1)
        _, c8, H, W = up.shape
        masks = torch.matmul(hyper, up.reshape(b, c8, H * W)).reshape(b, -1, H, W)
        iou = self.iou_prediction_head(iou_token_out)
        if self.pred_obj_scores:
            obj = self.pred_obj_score_head(hs[:, 0, :])
        else:
            obj = 10.0 * iou.new_ones(iou.shape[0], 1)
        return masks, iou, mask_tokens_out, obj
