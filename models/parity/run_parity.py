"""End-to-end parity: the cineseg engine (ONNX bundle through onnxruntime-node) against an
official SAM 2 video predictor, same clip, same frames, same prompts, same weights.

Scenario (default; --scenario FILE for another): object 1 = a positive click on frame 0,
object 2 = a mask prompt on frame 0 (--mask PNG at video size; omitted without it);
propagate forward; a correction (one positive + one negative click) for object 1 on a later,
already tracked frame (it becomes a conditioning frame, add_all_frames_to_correct_as_cond);
propagate forward again; then a reverse pass from the last frame.

For every prompt step and every visited frame x object it reports mask IoU at video size (both
sides' low-res logits upsampled the same way, > 0) and the max |difference| of the low-res
logits. Targets: IoU >= 0.99 on every frame, max |diff| <= 1e-3 (fp32 bundles).

    cd /work/main && npm run build -w engine
    /usr/bin/python3 -m models.parity.run_parity --bundle models/tiny/work/random-bundle \
        --official /tmp/offsam2 --shims /tmp/offsam2/shims \
        --video samples/real/aquarium.mp4 --mask samples/real/aquarium-mask-frame0.png --frames 60 --out /tmp/parity-tiny

Weights: a random-weight bundle is rebuilt from its manifest (config, imageSize, seed: the
exporter's torch.manual_seed(seed); build_model(...)); a checkpoint bundle needs --checkpoint
(its sha256 must equal manifest.source.sha256). --reference transformers uses Hugging Face's
Sam2VideoModel instead of Meta's code (GPU machine; see models/parity/hf_reference.py).
--memory-dtype bf16 keeps Meta's bfloat16 memory storage (CUDA only), bf16-rounded emulates it on
any device (default fp32; see official.py).

Hole filling: Meta's predictor fills holes through `sam2._C` (a CUDA extension); where it is not
built, or the reference runs on the CPU, models/parity/connected_components.py stands in for it
(said on stderr). Should the reference still skip hole filling, the run stops with the reason
(HoleFillingGuard) instead of reporting FAIL. docs/parity.md has the details.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models.sam2 import build_model  # noqa: E402

IOU_TARGET = 0.99
LOGIT_TARGET = 1e-3


def probe_size(video: str) -> tuple:
    if shutil.which("ffprobe") is None:  # GPU machine: OpenCV instead
        import cv2
        cap = cv2.VideoCapture(video)
        return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                          "-of", "json", video], check=True, capture_output=True, text=True).stdout
    s = json.loads(out)["streams"][0]
    return int(s["width"]), int(s["height"])


def default_scenario(width: int, height: int, frames: int, mask: Optional[str],
                     point: Optional[List[float]] = None) -> Dict[str, object]:
    """Clicks on round pixel positions, so that both sides scale exactly the same numbers."""
    fix = max(frames * 2 // 3, 1)
    px, py = point if point else (round(width * 0.45), round(height * 0.5))
    steps: List[Dict[str, object]] = [{"op": "points", "frame": 0, "obj": 1, "points": [[px, py, 1]]}]
    if mask:
        steps.append({"op": "mask", "frame": 0, "obj": 2, "png": os.path.abspath(mask)})
    steps += [
        {"op": "propagate", "start": None, "reverse": False},
        {"op": "points", "frame": fix, "obj": 1,
         "points": [[round(width * 0.5), round(height * 0.45), 1], [round(width * 0.1), round(height * 0.1), 0]]},
        {"op": "propagate", "start": None, "reverse": False},
        {"op": "propagate", "start": frames - 1, "reverse": True},
    ]
    return {"frames": frames, "steps": steps}


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def our_model(manifest: Dict[str, object], checkpoint: Optional[str]):
    """The PyTorch model whose weights the bundle holds."""
    src = manifest.get("source", {}) or {}
    cfg, size = manifest["config"], manifest["imageSize"]
    if src.get("randomWeights"):
        torch.manual_seed(int(src.get("seed", 0)))  # as export_bundle does before build_model
        return build_model(cfg, image_size=size)
    if not checkpoint:
        raise SystemExit(f"the bundle was exported from {src.get('checkpoint')}: pass it with --checkpoint")
    if src.get("sha256") and sha256(checkpoint) != src["sha256"]:
        raise SystemExit(f"{checkpoint} is not the checkpoint this bundle was exported from (sha256 differs)")
    return build_model(cfg, checkpoint=checkpoint, image_size=size)


def run_engine(a, scenario_path: str, dump: str) -> float:
    cmd = ["node", os.path.join(ROOT, "models", "parity", "engine_dump.mjs"), "--bundle", a.bundle,
           "--scenario", scenario_path, "--out", dump, "--ep", a.ep, "--threads", str(a.threads)]
    if shutil.which("ffmpeg") is None:
        # No ffmpeg (GPU machine): decode with OpenCV and hand the engine raw frames.
        with open(os.path.join(a.bundle, "manifest.json")) as fh:
            S = json.load(fh)["imageSize"]
        raw = os.path.join(a.out, "frames-in.u8")
        with open(raw, "wb") as fh:
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu", "decode_frames.py"), a.video, str(S),
                            str(a.frames)], check=True, stdout=fh)
        W, H = probe_size(a.video)
        cmd += ["--frames-u8", raw, "--width", str(W), "--height", str(H)]
    else:
        cmd += ["--video", a.video]
    t = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.time() - t


def upsample(low: torch.Tensor, H: int, W: int) -> torch.Tensor:
    return F.interpolate(low[None, None], size=(H, W), mode="bilinear", align_corners=False)[0, 0]


def compare(ref: torch.Tensor, eng: torch.Tensor, H: int, W: int) -> Dict[str, float]:
    a, b = upsample(ref, H, W) > 0, upsample(eng, H, W) > 0
    union = int((a | b).sum())
    iou = 1.0 if union == 0 else int((a & b).sum()) / union
    return {"iou": iou, "maxAbs": float((ref - eng).abs().max()), "maxRef": float(ref.abs().max()),
            "refArea": int(a.sum()), "engArea": int(b.sum())}


def markdown(report: Dict[str, object]) -> str:
    lines = [f"# Parity: cineseg engine vs {report['reference']}", "",
             f"bundle `{report['bundle']}` ({report['config']}, {report['imageSize']} px, {report['precision']}, "
             f"{report['weights']}), clip `{os.path.basename(report['video'])}` {report['width']}x{report['height']}, "
             f"{report['frames']} frames, reference memory storage {report['memoryDtype']}, engine EP {report['ep']}", "",
             "| step | op | frames x objects | min IoU (frame, obj) | max abs logit diff (frame, obj) | verdict |",
             "|---|---|---|---|---|---|"]
    for s in report["steps"]:
        lines.append(f"| {s['step']} | {s['op']}{' reverse' if s.get('reverse') else ''} | {s['count']} | "
                     f"{s['minIou']:.6f} ({s['minIouAt'][0]}, {s['minIouAt'][1]}) | {s['maxAbs']:.2e} ({s['maxAbsAt'][0]}, {s['maxAbsAt'][1]}) | "
                     f"{'PASS' if s['pass'] else 'FAIL'} |")
    lines += ["", f"Overall: min IoU {report['minIou']:.6f}, max abs logit diff {report['maxAbs']:.2e} over "
              f"{report['comparisons']} frame x object outputs: **{'PASS' if report['pass'] else 'FAIL'}** "
              f"(targets IoU >= {IOU_TARGET}, |diff| <= {report['logitTarget']:g}).",
              f"Time: engine {report['engineSeconds']:.1f} s, reference {report['referenceSeconds']:.1f} s.", "",
              "## Per frame", "", "| step | frame | obj | IoU | max abs diff | max abs ref | ref area | engine area |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['step']} | {r['frame']} | {r['obj']} | {r['iou']:.6f} | {r['maxAbs']:.2e} | {r['maxRef']:.1f} | "
                     f"{r['refArea']} | {r['engArea']} |")
    return "\n".join(lines) + "\n"


class HoleFillingGuard:
    """Wraps a reference so that its skipping hole filling stops the run with the reason.

    Meta's predictor turns a failing connected-components op (`sam2._C` absent, or its CUDA kernel
    given CPU tensors) into a UserWarning and goes on without hole filling; the engine always fills
    holes, so the run would end in a FAIL that does not say why. Here that warning is an error."""

    def __init__(self, ref) -> None:
        self._ref = ref

    def __getattr__(self, name: str):
        fn = getattr(self._ref, name)
        if not callable(fn):
            return fn

        def guarded(*args, **kw):
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message=r"(?s).*Skipping the post-processing step", category=UserWarning)
                try:
                    return fn(*args, **kw)
                except UserWarning as w:
                    first = str(w).strip().split("\n")[0]
                    raise SystemExit(
                        f"REFUSED: the reference skipped hole filling because its connected-components op failed ({first}); "
                        "the engine fills holes, so the outputs would differ for that reason alone. With --reference meta "
                        "the tool installs models/parity/connected_components.py in place of sam2._C; see docs/parity.md.") from None
        return guarded


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--checkpoint", default=None, help="weights of a checkpoint bundle (random bundles: none)")
    ap.add_argument("--reference", choices=["meta", "transformers"], default="meta")
    ap.add_argument("--official", default=None, help="folder with Meta's sam2/ package (--reference meta)")
    ap.add_argument("--shims", default=None, help="folder with iopath/tqdm/_C shims for Meta's code on torch 1.13")
    ap.add_argument("--device", default="cpu", help="reference device (cuda on the GPU machine)")
    ap.add_argument("--memory-dtype", choices=["fp32", "bf16", "bf16-rounded"], default="fp32")
    ap.add_argument("--video", default=os.path.join(ROOT, "samples", "real", "aquarium.mp4"))
    ap.add_argument("--mask", default=None, help="PNG mask at video size for object 2 on frame 0")
    ap.add_argument("--point", default=None, help="X,Y video pixels of object 1's click (default 45%%, 50%%)")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--scenario", default=None, help="scenario JSON (see engine_dump.mjs) instead of the default")
    ap.add_argument("--ep", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--engine-dump", default=None, help="reuse an engine dump folder instead of running Node")
    ap.add_argument("--logit-target", type=float, default=None, help="default 1e-3 (fp32), 0.5 (fp16 bundles)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    a.bundle, a.video, a.out = os.path.abspath(a.bundle), os.path.abspath(a.video), os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.bundle, "manifest.json")) as fh:
        manifest = json.load(fh)
    W, H = probe_size(a.video)
    if a.scenario:
        with open(a.scenario) as fh:
            scenario = json.load(fh)
    else:
        pt = [float(v) for v in a.point.split(",")] if a.point else None
        scenario = default_scenario(W, H, a.frames, a.mask, pt)
    scen_path = os.path.join(a.out, "scenario.json")
    with open(scen_path, "w") as fh:
        json.dump(scenario, fh, indent=1)

    dump = a.engine_dump or os.path.join(a.out, "engine")
    engine_s = 0.0 if a.engine_dump else run_engine(a, scen_path, dump)
    with open(os.path.join(dump, "video.json")) as fh:
        vid = json.load(fh)
    with open(os.path.join(dump, "steps.json")) as fh:
        eng_steps = json.load(fh)["steps"]
    S, L, N = vid["S"], vid["L"], vid["frames"]
    frames_u8 = np.fromfile(os.path.join(dump, "frames.u8"), dtype=np.uint8).reshape(N, S, S, 3)
    x = torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(manifest["pixelMean"]).view(1, 3, 1, 1)
    std = torch.tensor(manifest["pixelStd"]).view(1, 3, 1, 1)
    frames = ((x - mean) / std).to(a.device)

    ours = our_model(manifest, a.checkpoint).eval()
    if a.reference == "meta":
        if not a.official:
            raise SystemExit("--reference meta needs --official <dir with Meta's sam2 package>")
        from models.parity.official import MetaReference, build_meta_predictor
        svp, pred = build_meta_predictor(ours, a.official, a.shims, a.memory_dtype, device=a.device)
        ref = MetaReference(svp, pred.to(a.device), frames, W, H)
    else:
        from models.parity.hf_reference import TransformersReference
        ref = TransformersReference(ours, frames, W, H, device=a.device, memory_dtype=a.memory_dtype)

    ref = HoleFillingGuard(ref)
    logit_target = a.logit_target if a.logit_target is not None else (0.5 if manifest["precision"] == "fp16" else LOGIT_TARGET)
    rows: List[Dict[str, object]] = []
    steps: List[Dict[str, object]] = []
    objects: List[int] = []
    t_ref = time.time()
    for k, st in enumerate(scenario["steps"]):
        blob = np.fromfile(os.path.join(dump, f"step-{k}.f32"), dtype=np.float32)
        if st["op"] in ("points", "mask"):
            if st["obj"] not in objects:
                objects.append(st["obj"])
            if st["op"] == "points":
                r = ref.add_points(st["frame"], st["obj"], st["points"])
            else:
                m = np.fromfile(os.path.join(dump, f"step-{k}.mask.u8"), dtype=np.uint8).reshape(H, W)
                r = ref.add_mask(st["frame"], st["obj"], m)
            pairs = [(st["frame"], st["obj"], r.cpu(), torch.from_numpy(blob.reshape(L, L)))]
        else:
            order, outs = ref.propagate(st.get("start"), bool(st.get("reverse")), objects)
            if order != eng_steps[k]["order"]:
                raise SystemExit(f"step {k}: visit order differs: reference {order[:5]}... engine {eng_steps[k]['order'][:5]}...")
            eng = torch.from_numpy(blob.reshape(len(order), len(objects), L, L))
            pairs = [(f, o, outs[i, j].cpu(), eng[i, j]) for i, f in enumerate(order) for j, o in enumerate(objects)]
        srows = []
        for f, o, r_low, e_low in pairs:
            c = compare(r_low.float(), e_low, H, W)
            srows.append({"step": k, "frame": f, "obj": o, **c})
        rows += srows
        worst_iou = min(srows, key=lambda r: r["iou"])
        worst_abs = max(srows, key=lambda r: r["maxAbs"])
        steps.append({"step": k, "op": st["op"], "reverse": bool(st.get("reverse")), "count": len(srows),
                      "minIou": worst_iou["iou"], "minIouAt": [worst_iou["frame"], worst_iou["obj"]],
                      "maxAbs": worst_abs["maxAbs"], "maxAbsAt": [worst_abs["frame"], worst_abs["obj"]],
                      "pass": worst_iou["iou"] >= IOU_TARGET and worst_abs["maxAbs"] <= logit_target})
        print(f"step {k} {st['op']}{' reverse' if st.get('reverse') else ''}: {len(srows)} outputs, min IoU "
              f"{worst_iou['iou']:.6f}, max |diff| {worst_abs['maxAbs']:.2e}", flush=True)
    ref_s = time.time() - t_ref
    src = manifest.get("source", {}) or {}
    report = {
        "reference": ("Meta SAM2VideoPredictor" if a.reference == "meta" else "transformers Sam2VideoModel"),
        "bundle": os.path.relpath(a.bundle, ROOT), "config": manifest["config"], "imageSize": S,
        "precision": manifest["precision"],
        "weights": f"random seed {src.get('seed')}" if src.get("randomWeights") else f"checkpoint {src.get('checkpoint')}",
        "video": os.path.relpath(a.video, ROOT), "width": W, "height": H, "frames": N, "memoryDtype": a.memory_dtype,
        "ep": vid.get("ep"), "logitTarget": logit_target, "engineSeconds": engine_s, "referenceSeconds": ref_s,
        "comparisons": len(rows), "minIou": min(r["iou"] for r in rows), "maxAbs": max(r["maxAbs"] for r in rows),
        "pass": all(s["pass"] for s in steps), "steps": steps, "rows": rows,
    }
    with open(os.path.join(a.out, "parity.json"), "w") as fh:
        json.dump(report, fh, indent=1)
    with open(os.path.join(a.out, "parity.md"), "w") as fh:
        fh.write(markdown(report))
    print(f"{'PASS' if report['pass'] else 'FAIL'}: min IoU {report['minIou']:.6f}, max |diff| {report['maxAbs']:.2e} "
          f"over {len(rows)} outputs -> {a.out}/parity.md")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
