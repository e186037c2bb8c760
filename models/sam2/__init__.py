"""One PyTorch definition of SAM 2 / SAM 2.1 (official state-dict names) for cineseg.

Public API (stable; used by models/tiny and models/export):
    build_model(name, checkpoint=None, image_size=None) -> SAM2Model
    SAM2Model.encode_image / condition / decode / encode_memory / initial_embed / constants
    CONFIGS, get_config, SAM2Config
    track_video, Prompt, FrameOutput, select_outputs, select_memory, fill_holes (video.py)
"""
from .config import CONFIGS, SAM2Config, get_config
from .model import NO_OBJ_SCORE, SAM2Model, build_model
from .video import FrameOutput, Prompt, fill_holes, select_memory, select_outputs, track_video

__all__ = ["CONFIGS", "SAM2Config", "get_config", "NO_OBJ_SCORE", "SAM2Model", "build_model", "FrameOutput", "Prompt",
           "fill_holes", "select_memory", "select_outputs", "track_video"]
