"""State-dict key check against the official SAM 2.1 Hiera-T layout.

The expected list is derived here *independently* of our modules, module by module from
facebookresearch/sam2 (hieradet.py, image_encoder.py, memory_attention.py,
memory_encoder.py, sam/transformer.py, sam/mask_decoder.py, sam/prompt_encoder.py,
sam2_base.py) and configs/sam2.1/sam2.1_hiera_t.yaml, so a naming slip in models/sam2
cannot hide by being reproduced in the test. Parameter totals are also checked against
the sizes Meta publishes in the sam2 README (38.9 / 46 / 80.8 / 224.4 M).

Run: cd /work/main && /usr/bin/python3 -m models.sam2.test_keys
"""
from __future__ import annotations

import sys
from typing import Dict, List, Tuple

Shapes = Dict[str, Tuple[int, ...]]


def _linear(d: Shapes, p: str, i: int, o: int) -> None:
    d[p + ".weight"] = (o, i)
    d[p + ".bias"] = (o,)


def _norm(d: Shapes, p: str, c: int) -> None:
    d[p + ".weight"] = (c,)
    d[p + ".bias"] = (c,)


def _conv(d: Shapes, p: str, i: int, o: int, k: int, groups: int = 1) -> None:
    d[p + ".weight"] = (o, i // groups, k, k)
    d[p + ".bias"] = (o,)


def _mlp(d: Shapes, p: str, i: int, h: int, o: int, n: int) -> None:
    dims = [i] + [h] * (n - 1) + [o]
    for j in range(n):
        _linear(d, f"{p}.layers.{j}", dims[j], dims[j + 1])


def official_sam21_tiny_shapes(v21: bool = True) -> Shapes:
    """Keys/shapes of sam2.1_hiera_tiny.pt['model'] (or sam2_hiera_tiny.pt when v21=False)."""
    d: Shapes = {}
    # --- Hiera trunk: embed 96, heads 1, stages (1,2,7,2), q_pool 3, dim/head x2 per stage,
    # bkg pos embed 7x7, window pos embed window_spec[0]=8.
    E = 96
    _conv(d, "image_encoder.trunk.patch_embed.proj", 3, E, 7)
    d["image_encoder.trunk.pos_embed"] = (1, E, 7, 7)
    d["image_encoder.trunk.pos_embed_window"] = (1, E, 8, 8)
    stages = [1, 2, 7, 2]
    dims = [96, 192, 384, 768]
    blk = 0
    for s, n in enumerate(stages):
        for j in range(n):
            dim_in = dims[s - 1] if (j == 0 and s > 0) else dims[s]
            dim_out = dims[s]
            p = f"image_encoder.trunk.blocks.{blk}"
            _norm(d, p + ".norm1", dim_in)
            _linear(d, p + ".attn.qkv", dim_in, 3 * dim_out)
            _linear(d, p + ".attn.proj", dim_out, dim_out)
            _norm(d, p + ".norm2", dim_out)
            _linear(d, p + ".mlp.layers.0", dim_out, 4 * dim_out)
            _linear(d, p + ".mlp.layers.1", 4 * dim_out, dim_out)
            if dim_in != dim_out:
                _linear(d, p + ".proj", dim_in, dim_out)
            blk += 1
    # --- FPN neck: convs[i] takes backbone_channel_list[i] = [768, 384, 192, 96].
    for i, c in enumerate([768, 384, 192, 96]):
        _conv(d, f"image_encoder.neck.convs.{i}.conv", c, 256, 1)
    # --- memory attention: 4 layers, d 256, ffn 2048, RoPE self/cross (kv_in_dim 64).
    for i in range(4):
        p = f"memory_attention.layers.{i}"
        for a, kv in (("self_attn", 256), ("cross_attn_image", 64)):
            _linear(d, f"{p}.{a}.q_proj", 256, 256)
            _linear(d, f"{p}.{a}.k_proj", kv, 256)
            _linear(d, f"{p}.{a}.v_proj", kv, 256)
            _linear(d, f"{p}.{a}.out_proj", 256, 256)
        _linear(d, p + ".linear1", 256, 2048)
        _linear(d, p + ".linear2", 2048, 256)
        for n in ("norm1", "norm2", "norm3"):
            _norm(d, f"{p}.{n}", 256)
    _norm(d, "memory_attention.norm", 256)
    # --- memory encoder: MaskDownSampler(k3,s2,p1,total 16) = 4x[conv, LN2d, GELU] + 1x1 conv.
    c = 1
    for j in range(4):
        _conv(d, f"memory_encoder.mask_downsampler.encoder.{3 * j}", c, c * 4, 3)
        _norm(d, f"memory_encoder.mask_downsampler.encoder.{3 * j + 1}", c * 4)
        c *= 4
    _conv(d, "memory_encoder.mask_downsampler.encoder.12", 256, 256, 1)
    _conv(d, "memory_encoder.pix_feat_proj", 256, 256, 1)
    for i in range(2):
        p = f"memory_encoder.fuser.layers.{i}"
        _conv(d, p + ".dwconv", 256, 256, 7, groups=256)
        _norm(d, p + ".norm", 256)
        _linear(d, p + ".pwconv1", 256, 1024)
        _linear(d, p + ".pwconv2", 1024, 256)
        d[p + ".gamma"] = (256,)
    _conv(d, "memory_encoder.out_proj", 256, 64, 1)
    # --- SAM2Base parameters.
    d["maskmem_tpos_enc"] = (7, 1, 1, 64)
    d["no_mem_embed"] = (1, 1, 256)
    d["no_mem_pos_enc"] = (1, 1, 256)
    d["no_obj_ptr"] = (1, 256)
    _conv(d, "mask_downsample", 1, 1, 4)
    if v21:
        d["no_obj_embed_spatial"] = (1, 64)
    # --- prompt encoder (embed 256, mask_in_chans 16).
    pe = "sam_prompt_encoder"
    d[pe + ".pe_layer.positional_encoding_gaussian_matrix"] = (2, 128)
    for i in range(4):
        d[f"{pe}.point_embeddings.{i}.weight"] = (1, 256)
    d[pe + ".not_a_point_embed.weight"] = (1, 256)
    _conv(d, pe + ".mask_downscaling.0", 1, 4, 2)
    _norm(d, pe + ".mask_downscaling.1", 4)
    _conv(d, pe + ".mask_downscaling.3", 4, 16, 2)
    _norm(d, pe + ".mask_downscaling.4", 16)
    _conv(d, pe + ".mask_downscaling.6", 16, 256, 1)
    d[pe + ".no_mask_embed.weight"] = (1, 256)
    # --- mask decoder: TwoWayTransformer depth 2, 8 heads, mlp 2048, downsample 2 in cross attn.
    md = "sam_mask_decoder"
    for i in range(2):
        p = f"{md}.transformer.layers.{i}"
        for a, internal in (("self_attn", 256), ("cross_attn_token_to_image", 128),
                            ("cross_attn_image_to_token", 128)):
            _linear(d, f"{p}.{a}.q_proj", 256, internal)
            _linear(d, f"{p}.{a}.k_proj", 256, internal)
            _linear(d, f"{p}.{a}.v_proj", 256, internal)
            _linear(d, f"{p}.{a}.out_proj", internal, 256)
        for n in ("norm1", "norm2", "norm3", "norm4"):
            _norm(d, f"{p}.{n}", 256)
        _linear(d, p + ".mlp.layers.0", 256, 2048)
        _linear(d, p + ".mlp.layers.1", 2048, 256)
    for a in ("q_proj", "k_proj", "v_proj"):
        _linear(d, f"{md}.transformer.final_attn_token_to_image.{a}", 256, 128)
    _linear(d, f"{md}.transformer.final_attn_token_to_image.out_proj", 128, 256)
    _norm(d, f"{md}.transformer.norm_final_attn", 256)
    d[md + ".iou_token.weight"] = (1, 256)
    d[md + ".mask_tokens.weight"] = (4, 256)
    d[md + ".obj_score_token.weight"] = (1, 256)
    d[md + ".output_upscaling.0.weight"] = (256, 64, 2, 2)  # ConvTranspose: (in, out, k, k)
    d[md + ".output_upscaling.0.bias"] = (64,)
    _norm(d, md + ".output_upscaling.1", 64)
    d[md + ".output_upscaling.3.weight"] = (64, 32, 2, 2)
    d[md + ".output_upscaling.3.bias"] = (32,)
    _conv(d, md + ".conv_s0", 256, 32, 1)
    _conv(d, md + ".conv_s1", 256, 64, 1)
    for i in range(4):
        _mlp(d, f"{md}.output_hypernetworks_mlps.{i}", 256, 256, 32, 3)
    _mlp(d, md + ".iou_prediction_head", 256, 256, 4, 3)
    _mlp(d, md + ".pred_obj_score_head", 256, 256, 1, 3)
    # --- object pointer heads.
    _mlp(d, "obj_ptr_proj", 256, 256, 256, 3)
    if v21:
        _linear(d, "obj_ptr_tpos_proj", 256, 64)
    return d


def _diff(want: Shapes, got: Shapes) -> List[str]:
    errs = []
    for k in sorted(set(want) - set(got)):
        errs.append(f"missing {k} {want[k]}")
    for k in sorted(set(got) - set(want)):
        errs.append(f"unexpected {k} {got[k]}")
    for k in sorted(set(want) & set(got)):
        if tuple(want[k]) != tuple(got[k]):
            errs.append(f"shape {k}: ours {got[k]} official {want[k]}")
    return errs


def run() -> int:
    import torch

    from models.sam2 import build_model

    failures = 0
    for name, v21 in (("sam2.1_hiera_t", True), ("sam2_hiera_t", False), ("medsam2", True)):
        m = build_model(name)
        got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
        errs = _diff(official_sam21_tiny_shapes(v21), got)
        print(f"{name}: {len(got)} keys, {'OK' if not errs else f'{len(errs)} differences'}")
        for e in errs[:40]:
            print("   ", e)
        failures += bool(errs)
        # An official-style checkpoint round-trips through load_state_dict(strict=True).
        sd = {k: torch.zeros(s) for k, s in official_sam21_tiny_shapes(v21).items()}
        if not errs:
            m.load_state_dict(sd, strict=True)
    # Published sizes (README of facebookresearch/sam2, millions, one decimal).
    published = {"t": 38.9, "s": 46.0, "b+": 80.8, "l": 224.4}
    for size, mil in published.items():
        for arch in ("sam2", "sam2.1"):
            n = sum(p.numel() for p in build_model(f"{arch}_hiera_{size}").parameters())
            # README figures are rounded/truncated to 0.1 M (2.1-T is 38.96 M, listed 38.9).
            ok = abs(n / 1e6 - mil) < 0.1
            print(f"{arch}_hiera_{size}: {n} parameters ({'OK' if ok else f'expected {mil}M'})")
            failures += not ok
    n = sum(p.numel() for p in build_model("tiny-synth").parameters())
    print(f"tiny-synth: {n} parameters")
    print("FAIL" if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run())
