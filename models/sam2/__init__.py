"""One PyTorch definition of SAM 2 / SAM 2.1 (official state-dict names) for cineseg.

Public API (stable; used by models/tiny and models/export):
    build_model(name, checkpoint=None, image_size=None) -> SAM2Model
    SAM2Model.encode_image / condition / decode / encode_memory / initial_embed / constants
    CONFIGS, get_config, SAM2Config
    track_video (reference video tracker, models/sam2/video.py)
"""
from .config import CONFIGS, SAM2Config, get_config
from .model import NO_OBJ_SCORE, SAM2Model, build_model

__all__ = ["CONFIGS", "SAM2Config", "get_config", "NO_OBJ_SCORE", "SAM2Model", "build_model"]
