"""SAM2Model: the whole SAM 2 / 2.1 network with official parameter names, exposed as the
four stages of the bundle contract (models/BUNDLE.md):

    encode_image  -> imageEncoder graph
    condition     -> memoryAttention graph
    decode        -> maskDecoder graph   (prompt encoder + mask decoder + object pointer)
    encode_memory -> memoryEncoder graph

The memory bank (which frames / pointers feed `condition`) lives outside: in TypeScript
for the engine, in `video.py` for the Python reference.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from .config import SAM2Config, get_config
from .hiera import ImageEncoder
from .layers import MLP
from .memory import MemoryAttention, MemoryEncoder
from .position import sine_1d_pe, sine_grid_pe
from .sam_heads import MaskDecoder, PromptEncoder

NO_OBJ_SCORE = -1024.0


class SAM2Model(nn.Module):
    def __init__(self, cfg: SAM2Config) -> None:
        super().__init__()
        self.cfg = cfg
        C, Cm, fs = cfg.hidden_dim, cfg.mem_dim, cfg.feat_size
        self.hidden_dim, self.mem_dim, self.image_size = C, Cm, cfg.image_size
        self.num_maskmem = cfg.num_maskmem
        self.image_encoder = ImageEncoder(cfg.hiera, C)
        self.memory_attention = MemoryAttention(C, cfg.ma_layers, cfg.ma_ffn, cfg.ma_heads, Cm, fs,
                                                cfg.ma_dropout, cfg.rope_theta)
        self.memory_encoder = MemoryEncoder(C, Cm, cfg.fuser_layers)
        # Parameters owned by SAM2Base itself (names as in the checkpoints).
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(cfg.num_maskmem, 1, 1, Cm))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, C))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, C))  # unused with directly_add_no_mem_embed
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, C))
        self.no_obj_embed_spatial: Optional[nn.Parameter] = (
            nn.Parameter(torch.zeros(1, Cm)) if cfg.no_obj_embed_spatial else None)
        for p in (self.maskmem_tpos_enc, self.no_mem_embed, self.no_mem_pos_enc, self.no_obj_ptr):
            nn.init.trunc_normal_(p, std=0.02)
        if self.no_obj_embed_spatial is not None:
            nn.init.trunc_normal_(self.no_obj_embed_spatial, std=0.02)
        self.sam_prompt_encoder = PromptEncoder(C, fs, cfg.image_size, cfg.mask_in_chans)
        self.sam_mask_decoder = MaskDecoder(C, cfg.dec_depth, cfg.dec_heads, cfg.dec_mlp, cfg.iou_head_hidden,
                                            cfg.iou_prediction_use_sigmoid, cfg.pred_obj_scores,
                                            cfg.pred_obj_scores_mlp)
        self.obj_ptr_proj: nn.Module = MLP(C, C, C, 3) if cfg.use_mlp_for_obj_ptr_proj else nn.Linear(C, C)
        self.obj_ptr_tpos_proj: nn.Module = nn.Linear(C, Cm) if cfg.proj_tpos_enc_in_obj_ptrs else nn.Identity()
        # Fixed sine codes of the stride-16 grid: C channels for the current frame, Cm for
        # memories. Non-persistent: not in the official state dict.
        self.register_buffer("curr_pos", sine_grid_pe(C, fs, fs).flatten(2).transpose(1, 2), persistent=False)
        self.register_buffer("mem_pos", sine_grid_pe(Cm, fs, fs).flatten(2).transpose(1, 2), persistent=False)

    # ------------------------------------------------------------------ graph 1
    def encode_image(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """image [B, 3, S, S] (normalised) -> vision_feat [B, C, h, w],
        high_res_feat0 [B, C/8, 4h, 4w], high_res_feat1 [B, C/4, 2h, 2w]."""
        f0, f1, f2 = self.image_encoder(image)
        hr0 = self.sam_mask_decoder.conv_s0(f0)
        hr1 = self.sam_mask_decoder.conv_s1(f1)
        return f2, hr0, hr1

    # ------------------------------------------------------------------ graph 2
    def memory_pos(self, memory_tpos: Tensor) -> Tensor:
        """[Nm] int64 indices into maskmem_tpos_enc -> [1, Nm*hw, Cm] spatial+temporal code."""
        tpos = self.maskmem_tpos_enc[memory_tpos].reshape(-1, 1, self.mem_dim)  # [Nm, 1, Cm]
        return (self.mem_pos + tpos).reshape(1, -1, self.mem_dim)

    def obj_ptr_pos(self, obj_ptr_tpos: Tensor) -> Tensor:
        """[Np] normalised signed distances -> [Np, Cm] pointer code (zeros for SAM 2)."""
        if self.cfg.add_tpos_enc_to_obj_ptrs:
            dim = self.hidden_dim if self.cfg.proj_tpos_enc_in_obj_ptrs else self.mem_dim
            return self.obj_ptr_tpos_proj(sine_1d_pe(obj_ptr_tpos, dim))
        # Keep the input wired into the graph (an unused ONNX input would be dropped).
        return obj_ptr_tpos.unsqueeze(-1) * 0.0 + torch.zeros(1, self.mem_dim, dtype=obj_ptr_tpos.dtype,
                                                              device=obj_ptr_tpos.device)

    def condition(self, vision_feat: Tensor, memory: Tensor, memory_tpos: Tensor, obj_ptrs: Optional[Tensor],
                  obj_ptr_tpos: Optional[Tensor]) -> Tensor:
        """`_prepare_memory_conditioned_features` for a non-initial frame.

        vision_feat [1|B, C, h, w]; memory [B, Nm, Cm, h, w]; memory_tpos [Nm] int64;
        obj_ptrs [B, Np, C] (or None / Np = 0); obj_ptr_tpos [Np] -> [B, C, h, w].
        """
        C, Cm = self.hidden_dim, self.mem_dim
        B = memory.shape[0]
        bv, _, h, w = vision_feat.shape
        curr = vision_feat.flatten(2).transpose(1, 2)  # [1|B, hw, C]
        if bv != B:
            curr = curr.expand(B, -1, -1)
        mem = memory.flatten(3).transpose(2, 3).reshape(B, -1, Cm)  # [B, Nm*hw, Cm]
        mem_pos = self.memory_pos(memory_tpos)  # [1, Nm*hw, Cm]
        ptr_tok: Optional[Tensor] = None
        ptr_pos: Optional[Tensor] = None
        if obj_ptrs is not None and obj_ptrs.shape[1] > 0:
            assert obj_ptr_tpos is not None
            T = C // Cm
            # A C-wide pointer becomes T tokens of width Cm: pointer i -> tokens i*T .. i*T+T-1.
            ptr_tok = obj_ptrs.reshape(B, -1, Cm)  # [B, Np*T, Cm]
            ptr_pos = self.obj_ptr_pos(obj_ptr_tpos)  # [Np, Cm]
            ptr_pos = ptr_pos.unsqueeze(1).expand(-1, T, -1).reshape(1, -1, Cm)  # [1, Np*T, Cm]
        out = self.memory_attention(curr, self.curr_pos.to(curr.dtype), mem, mem_pos, ptr_tok, ptr_pos)
        return out.transpose(1, 2).reshape(B, C, h, w)

    # ------------------------------------------------------------------ graph 3
    def decode(self, image_embed: Tensor, hr0: Tensor, hr1: Tensor, point_coords: Tensor, point_labels: Tensor,
               mask_input: Tensor, has_mask_input: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """`_forward_sam_heads` before token selection.

        image_embed [B, C, h, w]; hr0 [1|B, C/8, 4h, 4w]; hr1 [1|B, C/4, 2h, 2w];
        point_coords [B, N, 2] (S-frame pixels); point_labels [B, N] float;
        mask_input [B, 1, 4h, 4w]; has_mask_input [B]
        -> low_res_masks [B, 4, 4h, 4w] (-1024 where absent), iou_scores [B, 4],
           obj_ptrs [B, 4, C] (mixed with no_obj_ptr), object_score_logits [B, 1].
        """
        pe = self.sam_prompt_encoder
        sparse = pe.embed_points(point_coords, point_labels)
        dense = pe.embed_dense(mask_input, has_mask_input)
        masks, ious, tokens, obj = self.sam_mask_decoder.predict_masks(
            image_embed, pe.get_dense_pe().to(image_embed.dtype), sparse, dense, hr0, hr1)
        ptrs = self.obj_ptr_proj(tokens)  # [B, 4, C]
        if self.cfg.pred_obj_scores:
            present = obj > 0  # [B, 1]
            masks = torch.where(present[:, :, None, None], masks, torch.full_like(masks, NO_OBJ_SCORE))
            lam = present.to(ptrs.dtype)[:, :, None]  # [B, 1, 1]
            if self.cfg.fixed_no_obj_ptr:
                ptrs = lam * ptrs
            ptrs = ptrs + (1 - lam) * self.no_obj_ptr
        return masks, ious, ptrs, obj

    # ------------------------------------------------------------------ graph 4
    def encode_memory(self, vision_feat: Tensor, mask_for_mem: Tensor, object_score_logits: Tensor) -> Tensor:
        """`_encode_new_memory`: vision_feat [1|B, C, h, w] (unconditioned), mask_for_mem
        [B, 1, S, S] in [0, 1], object_score_logits [B, 1] -> maskmem_features [B, Cm, h, w]."""
        m = mask_for_mem * self.cfg.sigmoid_scale_for_mem_enc + self.cfg.sigmoid_bias_for_mem_enc
        feats = self.memory_encoder(vision_feat, m)
        if self.no_obj_embed_spatial is not None:
            absent = 1.0 - (object_score_logits > 0).to(feats.dtype)  # [B, 1]
            feats = feats + absent[:, :, None, None] * self.no_obj_embed_spatial[:, :, None, None]
        return feats

    # ------------------------------------------------------------------ helpers
    def initial_embed(self, vision_feat: Tensor) -> Tensor:
        """Features of an initial conditioning frame (`directly_add_no_mem_embed`)."""
        return vision_feat + self.no_mem_embed.reshape(1, -1, 1, 1)

    def constants(self) -> Dict[str, object]:
        """The small tensors the TypeScript side applies itself (manifest `constants`)."""
        w = self.mask_downsample.weight.detach().float().reshape(-1)
        return {
            "noMemEmbed": [float(v) for v in self.no_mem_embed.detach().float().reshape(-1)],
            "noObjPtr": [float(v) for v in self.no_obj_ptr.detach().float().reshape(-1)],
            "maskDownsample": {"weight": [float(v) for v in w],
                               "bias": float(self.mask_downsample.bias.detach().float()[0])},
        }


def build_model(name: str, checkpoint: Optional[str] = None, image_size: Optional[int] = None,
                strict: bool = True) -> SAM2Model:
    """Build a config by name (see config.CONFIGS) and optionally load weights.

    `checkpoint` may be an official `.pt` (`{'model': state_dict}`) or a plain state dict.
    """
    model = SAM2Model(get_config(name, image_size))
    if checkpoint is not None:
        sd = torch.load(checkpoint, map_location="cpu")
        if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
            sd = sd["model"]
        missing, unexpected = model.load_state_dict(sd, strict=strict)
        if missing or unexpected:
            print(f"[sam2] load_state_dict: missing={list(missing)} unexpected={list(unexpected)}")
    return model.eval()
