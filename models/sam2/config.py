"""Architecture configurations.

One dataclass describes every size we build: the four official SAM 2 / SAM 2.1 Hiera
sizes (values read from facebookresearch/sam2 `sam2/configs/sam2{,.1}/*.yaml` and the
constructor defaults those YAMLs rely on), MedSAM2 (SAM 2.1 tiny at 512 px) and
`tiny-synth`, the small model we train on CPU and ship.

Only knobs that change parameters or numerics live here; the video-predictor settings
that the TypeScript tracker applies (memory selection, multimask rules) are in
`memory_settings()` because they go to manifest.json verbatim.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple


@dataclass
class HieraConfig:
    embed_dim: int = 96
    num_heads: int = 1
    stages: Tuple[int, ...] = (2, 3, 16, 3)
    global_att_blocks: Tuple[int, ...] = (12, 16, 20)
    window_spec: Tuple[int, ...] = (8, 4, 14, 7)
    window_pos_embed_bkg_spatial_size: Tuple[int, int] = (14, 14)
    q_pool: int = 3
    q_stride: Tuple[int, int] = (2, 2)
    dim_mul: float = 2.0
    head_mul: float = 2.0
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.0


@dataclass
class SAM2Config:
    name: str
    architecture: str  # "sam2" | "sam2.1"
    image_size: int = 1024
    hiera: HieraConfig = field(default_factory=HieraConfig)
    hidden_dim: int = 256  # C: FPN d_model, prompt/mask decoder width, memory-attention width
    mem_dim: int = 64  # Cm: memory-encoder output dim
    # memory attention
    ma_layers: int = 4
    ma_ffn: int = 2048
    ma_heads: int = 1
    ma_dropout: float = 0.1
    rope_theta: float = 10000.0
    # memory encoder: CXBlock fuser depth (kernel 7, dwconv); the mask downsampler is
    # kernel 3 / stride 2 / pad 1 with total stride 16 in every official config.
    fuser_layers: int = 2
    # mask decoder
    dec_depth: int = 2
    dec_heads: int = 8
    dec_mlp: int = 2048
    iou_head_hidden: int = 256
    mask_in_chans: int = 16
    # model-level flags (sam2_base.SAM2Base)
    num_maskmem: int = 7
    max_obj_ptrs_in_encoder: int = 16
    no_obj_embed_spatial: bool = True  # SAM 2.1 only
    add_tpos_enc_to_obj_ptrs: bool = True  # SAM 2: False
    proj_tpos_enc_in_obj_ptrs: bool = True  # SAM 2: False -> obj_ptr_tpos_proj is Identity
    use_signed_tpos_enc_to_obj_ptrs: bool = True  # SAM 2: False
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    fixed_no_obj_ptr: bool = True
    use_mlp_for_obj_ptr_proj: bool = True
    iou_prediction_use_sigmoid: bool = True
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    pixel_mean: Tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: Tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    def feat_size(self) -> int:
        return self.image_size // 16

    @property
    def backbone_channel_list(self) -> Tuple[int, ...]:
        """Trunk output channels, lowest resolution first (FpnNeck order)."""
        dims = [int(self.hiera.embed_dim * self.hiera.dim_mul ** i) for i in range(len(self.hiera.stages))]
        return tuple(reversed(dims))

    def with_image_size(self, image_size: int) -> "SAM2Config":
        if image_size % 16 != 0:
            raise ValueError(f"image size must be a multiple of 16, got {image_size}")
        return dataclasses.replace(self, image_size=image_size)

    def memory_settings(self) -> Dict[str, object]:
        """Video-predictor settings for manifest.json (`memory` block of BUNDLE.md)."""
        return {
            "numMaskmem": self.num_maskmem,
            "maxObjPtrsInEncoder": self.max_obj_ptrs_in_encoder,
            "memoryTemporalStrideForEval": 1,
            "maxCondFramesInAttn": -1,
            "onlyObjPtrsInThePastForEval": True,
            "useSignedTposEncToObjPtrs": bool(self.use_signed_tpos_enc_to_obj_ptrs),
            "addTposEncToObjPtrs": bool(self.add_tpos_enc_to_obj_ptrs),
            "directlyAddNoMemEmbed": True,
            "multimaskOutputInSam": True,
            "multimaskOutputForTracking": True,
            "multimaskMinPtNum": 0,
            "multimaskMaxPtNum": 1,
            "dynamicMultimaskViaStability": True,
            "dynamicMultimaskStabilityDelta": 0.05,
            "dynamicMultimaskStabilityThresh": 0.98,
            "binarizeMaskFromPtsForMemEnc": True,
            "sigmoidScaleForMemEnc": self.sigmoid_scale_for_mem_enc,
            "sigmoidBiasForMemEnc": self.sigmoid_bias_for_mem_enc,
            "useMaskInputAsOutputWithoutSam": True,
            "fillHoleArea": 8,
            "predObjScores": bool(self.pred_obj_scores),
            "softNoObjPtr": False,
            "fixedNoObjPtr": bool(self.fixed_no_obj_ptr),
        }


def _sam2_v1(cfg: SAM2Config) -> SAM2Config:
    """SAM 2 (July 2024) differs from 2.1 only in these flags (diff of the YAMLs)."""
    return dataclasses.replace(
        cfg,
        name=cfg.name.replace("sam2.1_", "sam2_"),
        architecture="sam2",
        no_obj_embed_spatial=False,
        add_tpos_enc_to_obj_ptrs=False,
        proj_tpos_enc_in_obj_ptrs=False,
        use_signed_tpos_enc_to_obj_ptrs=False,
    )


_T = HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), global_att_blocks=(5, 7, 9),
                 window_pos_embed_bkg_spatial_size=(7, 7))
_S = HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13),
                 window_pos_embed_bkg_spatial_size=(7, 7))
# b+ uses the Hiera constructor defaults for stages / global blocks / windows.
_BP = HieraConfig(embed_dim=112, num_heads=2)
_L = HieraConfig(embed_dim=144, num_heads=2, stages=(2, 6, 36, 4), global_att_blocks=(23, 33, 43),
                 window_pos_embed_bkg_spatial_size=(7, 7), window_spec=(8, 4, 16, 8))

_TINY_SYNTH = SAM2Config(
    name="tiny-synth",
    architecture="sam2.1",
    image_size=256,
    # 4 stages 16/32/64/128 ch at strides 4/8/16/32. Windows: 8 at stride 4 (64x64 grid),
    # 4 at stride 8, 8 at stride 16 (16x16 grid: 4 windows) and block 4 global.
    hiera=HieraConfig(embed_dim=16, num_heads=1, stages=(1, 2, 2, 1), global_att_blocks=(4,),
                      window_spec=(8, 4, 8, 8), window_pos_embed_bkg_spatial_size=(8, 8)),
    hidden_dim=64,
    mem_dim=16,
    ma_layers=2,
    ma_ffn=256,
    fuser_layers=2,
    dec_depth=2,
    dec_heads=8,
    dec_mlp=256,
    iou_head_hidden=64,
)

CONFIGS: Dict[str, SAM2Config] = {
    "sam2.1_hiera_t": SAM2Config(name="sam2.1_hiera_t", architecture="sam2.1", hiera=_T),
    "sam2.1_hiera_s": SAM2Config(name="sam2.1_hiera_s", architecture="sam2.1", hiera=_S),
    "sam2.1_hiera_b+": SAM2Config(name="sam2.1_hiera_b+", architecture="sam2.1", hiera=_BP),
    "sam2.1_hiera_l": SAM2Config(name="sam2.1_hiera_l", architecture="sam2.1", hiera=_L),
    "medsam2": SAM2Config(name="medsam2", architecture="sam2.1", hiera=_T, image_size=512),
    "tiny-synth": _TINY_SYNTH,
}
for _k in ("t", "s", "b+", "l"):
    CONFIGS[f"sam2_hiera_{_k}"] = _sam2_v1(CONFIGS[f"sam2.1_hiera_{_k}"])


def get_config(name: str, image_size: Optional[int] = None) -> SAM2Config:
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; valid: {', '.join(sorted(CONFIGS))}")
    cfg = CONFIGS[name]
    return cfg.with_image_size(image_size) if image_size else cfg
