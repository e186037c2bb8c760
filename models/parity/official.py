"""Reference trackers for the end-to-end parity check, built around OUR weights.

Two references, same interface (`Reference.add_points / add_mask / propagate`, low-res logits out):

- `MetaReference`: Meta's SAM2VideoPredictor from a checkout of facebookresearch/sam2 (`--official`,
  with shims for iopath/tqdm on torch < 2, as check_official.py needs). Where `sam2._C` (Meta's
  CUDA connected components) cannot serve, connected_components.py stands in for it (install()). The predictor
  is built with the sizes of one of our configs and loads our state dict with strict=True
  (parameter names are the official ones).
- `TransformersReference`: Hugging Face transformers' Sam2VideoModel (GPU machine: transformers
  >= 4.56). Untested in the dev container (no transformers there); see run_parity.py.

Memory precision: Meta's predictor stores every memory as bfloat16 (`maskmem_features.to(
torch.bfloat16)` in `_run_single_frame_inference` and `_run_memory_encoder`) to save GPU memory.
The engine keeps float32. `memory_dtype="fp32"` swaps the predictor module's `torch` for a proxy
whose `bfloat16` is float32 (only those two lines use it), so the comparison isolates real
differences; `memory_dtype="bf16"` keeps Meta's code as is (needs CUDA: bf16 x fp32 matmuls fail on the CPU);
`memory_dtype="bf16-rounded"` rounds stored memories to bf16 but keeps them float32, which shows on
any device what bf16 storage alone costs.
"""
from __future__ import annotations

import math
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


class _TorchKeepFp32:
    """Stands in for the `torch` module inside sam2_video_predictor: bfloat16 -> float32."""

    def __getattr__(self, name: str):
        return torch.float32 if name == "bfloat16" else getattr(torch, name)


def _import_official(official: str, shims: Optional[str], device: str = "cpu"):
    if shims:
        sys.path.insert(0, shims)
    sys.path.insert(0, official)
    if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2
        def sdpa(q, k, v, dropout_p=0.0, **_kw):
            return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v
        F.scaled_dot_product_attention = sdpa
    # Without a working `_C` Meta's predictor skips hole filling (and only warns); the engine
    # fills holes, so the two would differ for that reason alone. Our CPU stand-in takes its place.
    from models.parity.connected_components import install
    install(device)
    import sam2.sam2_video_predictor as svp  # noqa: E402  (Meta's code)
    return svp


def build_meta_predictor(ours, official: str, shims: Optional[str], memory_dtype: str = "fp32",
                         correct_as_cond: bool = True, device: str = "cpu"):
    """SAM2VideoPredictor with `ours`' sizes and weights; the settings of the official configs
    (sam2.1_hiera_*.yaml) plus add_all_frames_to_correct_as_cond=`correct_as_cond` (True is the
    engine's default; Meta's default is False). memory_dtype "bf16" leaves Meta's storage as it is.
    `device`: where the predictor will run (decides whether Meta's CUDA `_C` can serve)."""
    svp = _import_official(official, shims, device)
    from sam2.modeling.backbones.hieradet import Hiera
    from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder
    from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine
    from sam2.modeling.sam.mask_decoder import MaskDecoder
    from sam2.modeling.sam.transformer import RoPEAttention, TwoWayTransformer

    # Meta's bf16 tensors only work under CUDA autocast (torch 1.13 CPU refuses bf16 x fp32
    # matmuls), so bf16 storage is emulated: memories are rounded to bf16 and kept as float32.
    svp.torch = _TorchKeepFp32() if memory_dtype in ("fp32", "bf16-rounded") else torch
    cfg = ours.cfg
    C, Cm, fs, S = cfg.hidden_dim, cfg.mem_dim, cfg.feat_size, cfg.image_size
    h = cfg.hiera
    v21 = cfg.architecture == "sam2.1"
    trunk = Hiera(embed_dim=h.embed_dim, num_heads=h.num_heads, stages=list(h.stages),
                  global_att_blocks=list(h.global_att_blocks),
                  window_pos_embed_bkg_spatial_size=list(h.window_pos_embed_bkg_spatial_size),
                  window_spec=list(h.window_spec))
    neck = FpnNeck(position_encoding=PositionEmbeddingSine(num_pos_feats=C, image_size=S), d_model=C,
                   backbone_channel_list=list(cfg.backbone_channel_list), fpn_top_down_levels=[2, 3],
                   fpn_interp_model="nearest")
    rope = dict(rope_theta=10000.0, feat_sizes=[fs, fs], embedding_dim=C, num_heads=cfg.ma_heads,
                downsample_rate=1, dropout=0.1)
    layer = MemoryAttentionLayer(
        activation="relu", dim_feedforward=cfg.ma_ffn, dropout=0.1, pos_enc_at_attn=False, d_model=C,
        self_attention=RoPEAttention(**rope), pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
        cross_attention=RoPEAttention(rope_k_repeat=True, kv_in_dim=Cm, **rope))
    pred = svp.SAM2VideoPredictor(
        fill_hole_area=8, add_all_frames_to_correct_as_cond=correct_as_cond,
        image_encoder=ImageEncoder(trunk=trunk, neck=neck, scalp=1),
        memory_attention=MemoryAttention(d_model=C, pos_enc_at_input=True, layer=layer, num_layers=cfg.ma_layers),
        memory_encoder=MemoryEncoder(
            out_dim=Cm, in_dim=C, position_encoding=PositionEmbeddingSine(num_pos_feats=Cm, image_size=S),
            mask_downsampler=MaskDownSampler(embed_dim=C, kernel_size=3, stride=2, padding=1),
            fuser=Fuser(layer=CXBlock(dim=C, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True),
                        num_layers=cfg.fuser_layers)),
        num_maskmem=cfg.num_maskmem, image_size=S, sigmoid_scale_for_mem_enc=20.0, sigmoid_bias_for_mem_enc=-10.0,
        use_mask_input_as_output_without_sam=True, directly_add_no_mem_embed=True, no_obj_embed_spatial=v21,
        use_high_res_features_in_sam=True, multimask_output_in_sam=True, iou_prediction_use_sigmoid=True,
        use_obj_ptrs_in_encoder=True, add_tpos_enc_to_obj_ptrs=v21, proj_tpos_enc_in_obj_ptrs=v21,
        use_signed_tpos_enc_to_obj_ptrs=v21, only_obj_ptrs_in_the_past_for_eval=True, pred_obj_scores=True,
        pred_obj_scores_mlp=True, fixed_no_obj_ptr=True, multimask_output_for_tracking=True,
        use_multimask_token_for_obj_ptr=True, multimask_min_pt_num=0, multimask_max_pt_num=1,
        use_mlp_for_obj_ptr_proj=True, binarize_mask_from_pts_for_mem_enc=True,
        sam_mask_decoder_extra_args=dict(dynamic_multimask_via_stability=True, dynamic_multimask_stability_delta=0.05,
                                         dynamic_multimask_stability_thresh=0.98))
    if (cfg.dec_mlp, cfg.iou_head_hidden) != (2048, 256):
        # SAM2Base hard-codes the official decoder widths; small configs need their own.
        pred.sam_mask_decoder = MaskDecoder(
            num_multimask_outputs=3, transformer=TwoWayTransformer(depth=cfg.dec_depth, embedding_dim=C,
                                                                   mlp_dim=cfg.dec_mlp, num_heads=cfg.dec_heads),
            transformer_dim=C, iou_head_depth=3, iou_head_hidden_dim=cfg.iou_head_hidden, use_high_res_features=True,
            iou_prediction_use_sigmoid=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
            use_multimask_token_for_obj_ptr=True, dynamic_multimask_via_stability=True,
            dynamic_multimask_stability_delta=0.05, dynamic_multimask_stability_thresh=0.98)
    pred.load_state_dict(ours.state_dict(), strict=True)
    pred.eval()
    if memory_dtype == "bf16-rounded":
        _round_stored_memories(pred)
    return svp, pred


def _bf16(t: Optional[Tensor]) -> Optional[Tensor]:
    return None if t is None else t.to(torch.bfloat16).float()


def _round_stored_memories(pred) -> None:
    """Wrap the two places where the predictor stores a memory so that it is rounded to bf16."""
    single, encoder = pred._run_single_frame_inference, pred._run_memory_encoder

    def run_single(*args, **kw):
        out, masks = single(*args, **kw)
        out["maskmem_features"] = _bf16(out["maskmem_features"])
        return out, masks

    def run_encoder(*args, **kw):
        feats, pos = encoder(*args, **kw)
        return _bf16(feats), pos

    pred._run_single_frame_inference, pred._run_memory_encoder = run_single, run_encoder


class MetaReference:
    """Replays a scenario through SAM2VideoPredictor on given normalised frames."""

    def __init__(self, svp, pred, frames: Tensor, width: int, height: int) -> None:
        self.pred = pred
        # The predictor would decode JPEGs itself; hand it the engine's frames instead, with the
        # real video size so that point normalisation and mask resizing happen as in production.
        svp.load_video_frames = lambda **_kw: (frames, height, width)
        with torch.no_grad():
            self.state = pred.init_state(video_path="<engine frames>")

    def _low(self, obj: int, frame: int, temp: bool) -> Tensor:
        idx = self.state["obj_id_to_idx"][obj]
        od = (self.state["temp_output_dict_per_obj"] if temp else self.state["output_dict_per_obj"])[idx]
        out = od["cond_frame_outputs"].get(frame)
        if out is None:
            out = od["non_cond_frame_outputs"][frame]
        return out["pred_masks"][0, 0].float().clone()

    def add_points(self, frame: int, obj: int, points: Sequence[Sequence[float]]) -> Tensor:
        xy = torch.tensor([[p[0], p[1]] for p in points], dtype=torch.float32)
        lab = torch.tensor([int(p[2]) for p in points], dtype=torch.int32)
        with torch.no_grad():
            self.pred.add_new_points_or_box(self.state, frame, obj, points=xy, labels=lab)
        return self._low(obj, frame, temp=True)

    def add_mask(self, frame: int, obj: int, mask: np.ndarray) -> Tensor:
        with torch.no_grad():
            self.pred.add_new_mask(self.state, frame, obj, torch.from_numpy(mask > 0))
        return self._low(obj, frame, temp=True)

    def propagate(self, start: Optional[int], reverse: bool, objects: List[int]) -> Tuple[List[int], Tensor]:
        order, outs = [], []
        with torch.no_grad():
            for f, _ids, _masks in self.pred.propagate_in_video(self.state, start_frame_idx=start, reverse=reverse):
                order.append(f)
                outs.append(torch.stack([self._low(o, f, temp=False) for o in objects]))
        return order, torch.stack(outs)
