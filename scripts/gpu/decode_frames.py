"""Decode a video with OpenCV and write N frames as S x S rgb24 to stdout (the GPU machine has
OpenCV but may lack ffmpeg). Bilinear resize, like the engine's ffmpeg scale filter (the exact
pixels can differ slightly from ffmpeg's; parity runs feed both sides the same frames anyway).

    python3 scripts/gpu/decode_frames.py clip.mp4 1024 60 > frames.u8
"""
import sys

import cv2


def main() -> int:
    video, S, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cap = cv2.VideoCapture(video)
    out = sys.stdout.buffer
    for _ in range(n):
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(cv2.resize(bgr, (S, S), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
        out.write(rgb.tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
