"""Baseline for the engine's GPU numbers: transformers' Sam2VideoModel (SAM 2.1 Hiera-T layout,
1024 px, random weights: speed does not depend on them) tracking the same clip with 1..K clicked
objects. Timed from the first decoded frame to the last propagated mask at video size, so decode
(OpenCV), preprocessing and mask upsampling are included, as in bench_engine.mjs. One untimed
warm-up pass per setting. Writes JSON lines to stdout (and --out).

    python3 scripts/gpu/bench_hf.py --video samples/real/ultrasound-catheter.mp4 --frames 60 --objects 1,8 [--dtype bf16]
"""
from __future__ import annotations

import argparse
import json
import math
import time

import cv2
import torch


def decode(video: str, n: int):
    cap = cv2.VideoCapture(video)
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames


def main() -> int:
    from transformers import (Sam2ImageProcessorFast, Sam2VideoConfig, Sam2VideoModel, Sam2VideoProcessor,
                              Sam2VideoVideoProcessor)

    ap = argparse.ArgumentParser()
    ap.add_argument("--video", required=True)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--objects", default="1,8")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dev = "cuda"
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    torch.manual_seed(0)
    model = Sam2VideoModel(Sam2VideoConfig()).to(dev, dtype=dtype).eval()  # defaults = sam2.1-hiera-tiny
    proc = Sam2VideoProcessor(image_processor=Sam2ImageProcessorFast(), video_processor=Sam2VideoVideoProcessor())
    results = []
    for k in [int(x) for x in a.objects.split(",")]:
        for timed in (False, True):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            frames = decode(a.video, a.frames if timed else 4)
            H, W = frames[0].shape[:2]
            sess = proc.init_video_session(video=frames, inference_device=dev, dtype=dtype)
            rows = math.ceil(k / 4)
            pts = [[[[round(W * ((o % 4) + 1) / 5), round(H * (o // 4 + 1) / (rows + 1))]]] for o in range(k)]
            proc.add_inputs_to_inference_session(inference_session=sess, frame_idx=0, obj_ids=list(range(1, k + 1)),
                                                 input_points=[[p[0] for p in pts]], input_labels=[[[1]] * k])
            n = 0
            with torch.inference_mode():
                model(inference_session=sess, frame_idx=0)
                for out in model.propagate_in_video_iterator(sess):
                    proc.post_process_masks([out.pred_masks], original_sizes=[[H, W]], binarize=True)
                    n += 1
            torch.cuda.synchronize()
            s = time.perf_counter() - t0
            if timed:
                r = {"impl": "transformers Sam2VideoModel", "dtype": a.dtype, "objects": k, "frames": n, "seconds": s,
                     "fps": n / s, "gpu": torch.cuda.get_device_name(0)}
                results.append(r)
                print(json.dumps(r), flush=True)
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
