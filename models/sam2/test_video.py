"""Memory selection and the reference tracker, on hand-computed cases.

Run: cd /work/main && /usr/bin/python3 -m models.sam2.test_video
"""
from __future__ import annotations

import sys

import torch


def run() -> int:
    from models.sam2 import FrameOutput, Prompt, build_model, select_memory, select_outputs, track_video

    fails = []
    torch.manual_seed(0)
    m = build_model("tiny-synth")

    def fo(tag: int) -> FrameOutput:
        o = FrameOutput(torch.zeros(1, 1, 4, 4), torch.zeros(1, 64), torch.ones(1, 1), torch.ones(1, 1))
        o.extra["t"] = tag
        return o

    def ids(pairs):
        return [(d, o.extra["t"]) for d, o in pairs]

    # Forward, frame 10, conditioning frame 0, tracked frames 1..9, long video.
    cond = {0: fo(0)}
    non = {t: fo(t) for t in range(1, 10)}
    mems, ptrs = select_memory(m, 10, cond, non, num_frames=100)
    want_m = [(0, 0), (1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9)]  # t_pos 6 = previous frame
    want_p = [(10, 0)] + [(d, 10 - d) for d in range(1, 10)]
    if ids(mems) != want_m:
        fails.append(f"forward mems {ids(mems)}")
    if ids(ptrs) != want_p:
        fails.append(f"forward ptrs {ids(ptrs)}")
    # At most max_obj_ptrs_in_encoder - 1 = 15 recent pointers...
    _, ptrs = select_memory(m, 30, cond, {t: fo(t) for t in range(1, 30)}, num_frames=100)
    if ids(ptrs) != [(30, 0)] + [(d, 30 - d) for d in range(1, 16)]:
        fails.append(f"pointer cap {ids(ptrs)}")
    # ...and a clip shorter than 16 frames shrinks the window to num_frames - 1.
    _, ptrs = select_memory(m, 4, cond, {t: fo(t) for t in range(1, 4)}, num_frames=5)
    if ids(ptrs) != [(4, 0), (1, 3), (2, 2), (3, 1)]:
        fails.append(f"short-clip ptrs {ids(ptrs)}")
    # Reverse, frame 3, conditioning frame 10, tracked 4..9: signed distance flips sign.
    cond = {10: fo(10)}
    non = {t: fo(t) for t in range(4, 10)}
    mems, ptrs = select_memory(m, 3, cond, non, num_frames=100, reverse=True)
    if ids(mems) != [(0, 10), (1, 9), (2, 8), (3, 7), (4, 6), (5, 5), (6, 4)]:
        fails.append(f"reverse mems {ids(mems)}")
    if ids(ptrs)[:2] != [(7, 10), (1, 4)]:
        fails.append(f"reverse ptrs {ids(ptrs)}")
    # Conditioning frames after the current one give no pointer when tracking forward.
    cond = {0: fo(0), 20: fo(20)}
    _, ptrs = select_memory(m, 5, cond, {t: fo(t) for t in range(1, 5)}, num_frames=100)
    if 20 in [t for _, t in ids(ptrs)]:
        fails.append("future conditioning pointer used")
    # Token choice.
    low = torch.randn(2, 4, 8, 8)
    ious = torch.tensor([[0.1, 0.2, 0.9, 0.3], [0.5, 0.8, 0.1, 0.2]])
    ptr = torch.arange(2 * 4 * 3).float().reshape(2, 4, 3)
    l, i, p = select_outputs(low, ious, ptr, multimask=True)
    if not (torch.equal(l[0, 0], low[0, 2]) and torch.equal(p[1], ptr[1, 1]) and abs(i[0, 0].item() - 0.9) < 1e-6):
        fails.append("multimask selection")
    stable = torch.full((1, 4, 8, 8), -5.0)
    stable[0, 0, :4] = 5.0  # crisp token 0 -> stable -> token 0, pointer token 0
    l, i, p = select_outputs(stable, ious[:1], ptr[:1], multimask=False)
    if not (torch.equal(l[0, 0], stable[0, 0]) and torch.equal(p[0], ptr[0, 0])):
        fails.append("stable single mask")
    unstable = stable.clone()
    unstable[0, 0, 4:] = 0.01  # area(>0.05)/area(>-0.05) = 0.5 -> fall back to best of 1..3
    l, i, p = select_outputs(unstable, ious[:1], ptr[:1], multimask=False)
    if not (torch.equal(l[0, 0], unstable[0, 2]) and torch.equal(p[0], ptr[0, 0])):
        fails.append("unstable single mask fallback")
    # Whole tracker, forward from a click and reverse from a mask.
    S = m.image_size
    frames = torch.randn(5, 3, S, S)
    out = track_video(m, frames, {0: Prompt(points=torch.tensor([[100.0, 120.0]]), labels=torch.tensor([1]))})
    if sorted(out) != [0, 1, 2, 3, 4] or out[4].low_res_masks.shape != (1, 1, S // 4, S // 4):
        fails.append("forward track_video")
    mask = torch.zeros(S, S)
    mask[80:160, 90:170] = 1
    out = track_video(m, frames, {4: Prompt(mask=mask)}, reverse=True)
    if sorted(out) != [0, 1, 2, 3, 4] or not out[4].is_cond or out[4].object_score_logits.item() != 10.0:
        fails.append("reverse track_video from a mask")
    for f in fails:
        print("FAIL:", f)
    print("FAIL" if fails else "PASS (memory selection, token choice, tracker smoke)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(run())
