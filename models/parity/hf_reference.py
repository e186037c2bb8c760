"""Hugging Face transformers' Sam2VideoModel as the parity reference (GPU machine: torch 2.11,
transformers 5.x; not importable in the dev container, so UNTESTED until a GPU run).

Our weights are renamed to transformers' layout with transformers' own converter
(`transformers.models.sam2_video.convert_sam2_video_to_hf.replace_keys` + `get_config`), so the
comparison uses exactly the parameters the ONNX bundle holds. Frames are handed over already at
S x S (the engine's own frames), which makes the processor's resize an identity; points are
therefore given in S-pixel coordinates and masks at S x S, resized from video size the way
SAM2's add_new_mask does (antialiased bilinear, >= 0.5).

Known semantic differences to check on the first run: transformers' video model has no
`add_all_frames_to_correct_as_cond` switch (the engine's default is True), and it keeps
memories in the session's dtype (float32 here) rather than bfloat16.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

HF_NAMES = {"sam2.1_hiera_t": "sam2.1_hiera_tiny", "sam2.1_hiera_s": "sam2.1_hiera_small",
            "sam2.1_hiera_b+": "sam2.1_hiera_base_plus", "sam2.1_hiera_l": "sam2.1_hiera_large",
            "sam2_hiera_t": "sam2_hiera_tiny", "sam2_hiera_s": "sam2_hiera_small",
            "sam2_hiera_b+": "sam2_hiera_base_plus", "sam2_hiera_l": "sam2_hiera_large"}


class TransformersReference:
    def __init__(self, ours, frames: Tensor, width: int, height: int, device: str = "cuda",
                 memory_dtype: str = "fp32") -> None:
        from transformers import Sam2VideoModel, Sam2VideoProcessor
        from transformers.models.sam2_video import convert_sam2_video_to_hf as conv

        name = HF_NAMES.get(ours.cfg.name)
        if name is None or ours.cfg.image_size != 1024:
            raise SystemExit(f"--reference transformers needs an official config at 1024 px, not {ours.cfg.name} @ {ours.cfg.image_size}")
        config = conv.get_config(name)
        sd = {k: v for k, v in ours.state_dict().items()}
        self.model = Sam2VideoModel(config).eval()
        missing, unexpected = self.model.load_state_dict(conv.replace_keys(sd, config), strict=False)
        # Buffers the converter does not produce (e.g. RoPE tables) are rebuilt by the model.
        bad = [k for k in missing if "rope" not in k and "inv_freq" not in k] + list(unexpected)
        if bad:
            raise SystemExit(f"transformers weight mapping failed: {bad[:8]}")
        self.model.to(device)
        self.device = device
        self.S = ours.cfg.image_size
        self.W, self.H = width, height
        mean = torch.tensor(ours.cfg.pixel_mean).view(1, 3, 1, 1).to(frames)
        std = torch.tensor(ours.cfg.pixel_std).view(1, 3, 1, 1).to(frames)
        # Back to the engine's rgb24 frames (exact: they were made from bytes).
        u8 = ((frames * std + mean) * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        # Default processors (no hub access on the GPU machine): ImageNet mean/std, 1024 px.
        self.processor = Sam2VideoProcessor(image_processor=_image_processor(), video_processor=_video_processor())
        dtype = torch.bfloat16 if memory_dtype == "bf16" else torch.float32
        self.session = self.processor.init_video_session(video=list(u8), inference_device=device, dtype=dtype)
        self.obj_ids: List[int] = []

    def _scale(self, points: Sequence[Sequence[float]]) -> List[List[float]]:
        return [[p[0] * self.S / self.W, p[1] * self.S / self.H] for p in points]

    def _out(self, out, obj: Optional[int] = None) -> Tensor:
        m = out.pred_masks.float()  # [objects in this call, 1, L, L] low-res logits
        if obj is None:
            return m[:, 0]
        # A prompt call may return only the objects it was given; a propagation returns all.
        ids = list(getattr(out, "object_ids", None) or self.session.obj_ids)
        return m[0, 0] if m.shape[0] == 1 else m[ids.index(obj), 0]

    def add_points(self, frame: int, obj: int, points: Sequence[Sequence[float]]) -> Tensor:
        self.processor.add_inputs_to_inference_session(
            inference_session=self.session, frame_idx=frame, obj_ids=obj,
            input_points=[[self._scale(points)]], input_labels=[[[int(p[2]) for p in points]]])
        with torch.no_grad():
            return self._out(self.model(inference_session=self.session, frame_idx=frame), obj)

    def add_mask(self, frame: int, obj: int, mask: np.ndarray) -> Tensor:
        m = torch.from_numpy((mask > 0).astype(np.float32))[None, None]
        m = (F.interpolate(m, size=(self.S, self.S), mode="bilinear", align_corners=False, antialias=True) >= 0.5)
        self.processor.add_inputs_to_inference_session(
            inference_session=self.session, frame_idx=frame, obj_ids=obj, input_masks=m[0, 0].numpy())
        with torch.no_grad():
            return self._out(self.model(inference_session=self.session, frame_idx=frame), obj)

    def propagate(self, start: Optional[int], reverse: bool, objects: List[int]) -> Tuple[List[int], Tensor]:
        order, outs = [], []
        ids = list(self.session.obj_ids)
        with torch.no_grad():
            for o in self.model.propagate_in_video_iterator(self.session, start_frame_idx=start, reverse=reverse):
                order.append(int(o.frame_idx))
                m = o.pred_masks.float()[:, 0]
                outs.append(torch.stack([m[ids.index(obj)] for obj in objects]))
        return order, torch.stack(outs)


def _image_processor():
    from transformers import Sam2ImageProcessorFast
    return Sam2ImageProcessorFast()


def _video_processor():
    from transformers import Sam2VideoVideoProcessor
    return Sam2VideoVideoProcessor()
