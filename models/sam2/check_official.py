"""Parity of models/sam2 against Meta's own code (facebookresearch/sam2), run on demand.

Not a unit test: it needs a checkout of the official `sam2/` package (modeling + utils +
sam2_video_predictor.py) at --official (e.g. a `git archive` of commit 2b90b9f). It
builds the official SAM2VideoPredictor with the same sizes as one of our configs, copies
our (random or loaded) weights into it with load_state_dict(strict=True), then compares
(1) each of the four stages on random inputs and (2) a whole video: a click or mask
prompt on frame 0 then propagation, official predictor vs video.track_video.

On torch < 2 it polyfills F.scaled_dot_product_attention; missing optional deps
(iopath, tqdm) and the CUDA connected-components op (`sam2._C`) must be shimmed by the
caller (put shims on --shims).

    /usr/bin/python3 -m models.sam2.check_official --official /tmp/offsam2 --shims /tmp/offsam2/shims \
        --config tiny-synth --frames 12
"""
from __future__ import annotations

import argparse
import sys
from collections import OrderedDict


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="folder containing the official sam2/ package")
    ap.add_argument("--shims", default=None)
    ap.add_argument("--config", default="tiny-synth")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--modes", default="click,mask,two-clicks,absent", help="comma list: click, mask, two-clicks, absent")
    a = ap.parse_args()
    import torch
    import torch.nn.functional as F

    from models.parity.official import build_meta_predictor
    from models.sam2 import build_model
    from models.sam2.video import Prompt, track_video

    torch.manual_seed(a.seed)
    ours = build_model(a.config, checkpoint=a.checkpoint, image_size=a.image_size)
    # Random weights: give zero-initialised tensors some spread so nothing is trivially equal.
    if a.checkpoint is None:
        with torch.no_grad():
            for name, p in ours.named_parameters():
                if "pos_embed" in name or name.endswith("gamma"):
                    p.normal_(0, 0.1)
    # Meta's predictor with the same sizes and weights, its bf16 memory storage left as it is.
    svp, official = build_meta_predictor(ours, a.official, a.shims, memory_dtype="bf16", correct_as_cond=False)
    S = ours.cfg.image_size
    ours.eval()
    fails = 0

    def cmp(label: str, x, y, tol: float = 1e-4) -> None:
        nonlocal fails
        err = (x.float() - y.float()).abs().max().item()
        scale = max(1.0, y.float().abs().max().item())
        ok = err <= tol * scale
        fails += not ok
        print(f"{label:45s} max|diff| {err:.2e} (max|ref| {y.abs().max().item():.2f}) {'OK' if ok else 'FAIL'}")

    g = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        img = torch.randn(1, 3, S, S, generator=g)
        bo = official.forward_image(img)
        vf, hr0, hr1 = ours.encode_image(img)
        cmp("image encoder vision_feat", vf, bo["backbone_fpn"][2])
        cmp("image encoder high_res_feat0 (conv_s0)", hr0, bo["backbone_fpn"][0])
        cmp("image encoder high_res_feat1 (conv_s1)", hr1, bo["backbone_fpn"][1])
        cmp("neck sine position code", ours.curr_pos, bo["vision_pos_enc"][2].flatten(2).transpose(1, 2))

    # ---- whole video through the official predictor vs track_video
    T = a.frames
    # A bright disk drifting right over a textured background.
    yy, xx = torch.meshgrid(torch.arange(S).float(), torch.arange(S).float(), indexing="ij")
    frames = []
    for t in range(T):
        cx, cy = S * (0.35 + 0.02 * t), S * 0.5
        disk = (((xx - cx) ** 2 + (yy - cy) ** 2) < (S * 0.15) ** 2).float()
        base = 0.3 * torch.sin(xx / 7.0 + t) * torch.cos(yy / 11.0)
        frames.append(torch.stack([base + 1.5 * disk, base + 1.2 * disk, base + 0.8 * disk]))
    frames_t = torch.stack(frames)
    svp.load_video_frames = lambda **kw: (frames_t, S, S)  # bypass JPEG loading
    for mode in a.modes.split(","):
        # "absent": object-score head biased negative on both models -> every decoder call
        # says "absent" (exercises -1024 masks, no_obj_ptr mixing, no_obj_embed_spatial).
        shift = -50.0 if mode == "absent" else 0.0
        with torch.no_grad():
            for mdl in (ours, official):
                mdl.sam_mask_decoder.pred_obj_score_head.layers[2].bias.add_(shift)
        state = official.init_state(video_path="<memory>")
        prompts = {}
        if mode in ("click", "absent"):
            pts, labs = torch.tensor([[S * 0.35, S * 0.5]]), torch.tensor([1])
            official.add_new_points_or_box(state, 0, 1, points=pts, labels=labs)  # video size = S: normalised then x S
            prompts[0] = Prompt(points=pts, labels=labs)
        elif mode == "mask":
            m0 = (((xx - S * 0.35) ** 2 + (yy - S * 0.5) ** 2) < (S * 0.15) ** 2)
            official.add_new_mask(state, 0, 1, m0)
            prompts[0] = Prompt(mask=m0)
        else:
            # Conditioning frames 0 and T//2 (two clicks each: single-mask output + stability).
            for fi, cx in ((0, 0.35), (T // 2, 0.35 + 0.02 * (T // 2))):
                pts, labs = torch.tensor([[S * cx, S * 0.5], [S * 0.05, S * 0.05]]), torch.tensor([1, 0])
                official.add_new_points_or_box(state, fi, 1, points=pts, labels=labs)  # video size = S: normalised then x S
                prompts[fi] = Prompt(points=pts, labels=labs)
        with torch.no_grad():
            off = {fi: m for fi, _, m in official.propagate_in_video(state)}
            mine = track_video(ours, frames_t, prompts, bf16_memory=True)
        worst_frame, worst = -1, -1.0
        for fi in range(T):
            o = off[fi]  # [1, 1, S, S] at "video" res = S
            m = F.interpolate(mine[fi].low_res_masks, size=(S, S), mode="bilinear", align_corners=False)
            err = (o - m).abs().max().item() / max(1.0, o.abs().max().item())
            if err > worst:
                worst, worst_frame = err, fi
        agree = sum(((off[fi] > 0) == (F.interpolate(mine[fi].low_res_masks, size=(S, S), mode="bilinear",
                                                    align_corners=False) > 0)).float().mean().item() for fi in range(T)) / T
        # Pointers and memories too (they carry the absent-object embeddings).
        od = state["output_dict_per_obj"][0]
        mem_rel = 0.0
        for fi in range(T):
            ref = od["cond_frame_outputs"].get(fi) or od["non_cond_frame_outputs"][fi]
            e1 = (ref["obj_ptr"] - mine[fi].obj_ptr).abs().max().item()
            # The predictor stores memories in bfloat16: allow one bf16 step (2^-8 relative).
            r = ref["maskmem_features"].float()
            e2 = ((r - mine[fi].maskmem_features).abs() / (r.abs() + 1e-3)).max().item()
            worst = max(worst, e1 / max(1.0, ref["obj_ptr"].abs().max().item()))
            mem_rel = max(mem_rel, e2)
        present = sum(int(mine[fi].object_score_logits.item() > 0) for fi in range(T))
        ok = worst < 1e-3 and mem_rel <= 2 ** -7
        fails += not ok
        with torch.no_grad():
            for mdl in (ours, official):
                mdl.sam_mask_decoder.pred_obj_score_head.layers[2].bias.sub_(shift)
        print(f"video [{mode}] {T} frames: worst rel. logit/pointer diff {worst:.2e} (frame {worst_frame}), "
              f"memory rel. diff {mem_rel:.1e} (bf16 step), mask agreement {agree * 100:.3f}%, object present on {present}/{T} frames {'OK' if ok else 'FAIL'}")
    print("FAIL" if fails else "PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
