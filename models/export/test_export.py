"""Export round trip for the tiny config: fp32 and fp16 bundles into a temp folder, then
onnx.checker, the manifest against models/BUNDLE.md, graph I/O against the manifest, the
selftest budget, and (when this onnx has it: >= 1.13) graph numerics with onnx.reference.

Run: cd /work/main && /usr/bin/python3 -m models.export.test_export
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np

REQUIRED_TOP = ["format", "formatVersion", "name", "architecture", "config", "precision", "imageSize", "pixelMean",
                "pixelStd", "hiddenDim", "memDim", "featureSize", "lowResMaskSize", "memory", "constants", "graphs"]
REQUIRED_MEMORY = ["numMaskmem", "maxObjPtrsInEncoder", "memoryTemporalStrideForEval", "maxCondFramesInAttn",
                   "onlyObjPtrsInThePastForEval", "useSignedTposEncToObjPtrs", "addTposEncToObjPtrs",
                   "directlyAddNoMemEmbed", "multimaskOutputInSam", "multimaskOutputForTracking", "multimaskMinPtNum",
                   "multimaskMaxPtNum", "dynamicMultimaskViaStability", "dynamicMultimaskStabilityDelta",
                   "dynamicMultimaskStabilityThresh", "binarizeMaskFromPtsForMemEnc", "sigmoidScaleForMemEnc",
                   "sigmoidBiasForMemEnc", "useMaskInputAsOutputWithoutSam", "fillHoleArea", "predObjScores",
                   "softNoObjPtr", "fixedNoObjPtr"]


def check(cond: bool, msg: str, errs: list) -> None:
    if not cond:
        errs.append(msg)


def run() -> int:
    import onnx

    from models.export.export_bundle import export_bundle
    from models.sam2 import build_model

    errs: list = []
    with tempfile.TemporaryDirectory() as tmp:
        for fp16 in (False, True):
            out = os.path.join(tmp, "fp16" if fp16 else "fp32")
            man = export_bundle("tiny-synth", out, random_weights=True, seed=7, fp16=fp16, quiet=True)
            on_disk = json.load(open(os.path.join(out, "manifest.json")))
            check(on_disk == json.loads(json.dumps(man)), "manifest.json differs from the returned manifest", errs)
            for k in REQUIRED_TOP:
                check(k in man, f"manifest lacks {k}", errs)
            for k in REQUIRED_MEMORY:
                check(k in man["memory"], f"manifest.memory lacks {k}", errs)
            check(man["precision"] == ("fp16" if fp16 else "fp32"), "precision", errs)
            C = man["hiddenDim"]
            check(len(man["constants"]["noMemEmbed"]) == C and len(man["constants"]["noObjPtr"]) == C, "constants", errs)
            check(len(man["constants"]["maskDownsample"]["weight"]) == 16, "maskDownsample", errs)
            # Constants equal the model's own tensors (same seed -> same random init).
            import torch
            torch.manual_seed(7)
            m = build_model("tiny-synth")
            check(np.allclose(man["constants"]["noMemEmbed"], m.no_mem_embed.detach().reshape(-1).numpy()),
                  "noMemEmbed differs from the model", errs)
            total = 0
            for key, g in man["graphs"].items():
                path = os.path.join(out, g["file"])
                total += os.path.getsize(path)
                model = onnx.load(path)
                onnx.checker.check_model(model)
                check(model.opset_import[0].version == 17, f"{key}: opset {model.opset_import[0].version}", errs)
                names_in = [i.name for i in model.graph.input]
                check(names_in == [i["name"] for i in g["inputs"]], f"{key}: input names {names_in}", errs)
                names_out = [o.name for o in model.graph.output]
                check(names_out == [o["name"] for o in g["outputs"]], f"{key}: output names {names_out}", errs)
                want = 10 if fp16 else 1
                for vi, spec in zip(list(model.graph.input) + list(model.graph.output), g["inputs"] + g["outputs"]):
                    et = vi.type.tensor_type.elem_type
                    check(et == (7 if spec["dtype"] == "int64" else want), f"{key}.{vi.name}: elem type {et}", errs)
                    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]
                    check(dims == spec["shape"], f"{key}.{vi.name}: dims {dims} != {spec['shape']}", errs)
            print(f"{'fp16' if fp16 else 'fp32'} bundle: 4 graphs, {total / 1e6:.2f} MB")
            if not fp16:
                check(total < 20e6, "tiny bundle over 20 MB", errs)
                st = json.load(open(os.path.join(out, "selftest", "selftest.json")))
                size = sum(os.path.getsize(os.path.join(out, "selftest", f)) for f in os.listdir(os.path.join(out, "selftest")))
                check(size <= 1_048_576, f"selftest is {size} bytes", errs)
                for case in st["cases"]:
                    for e in case["inputs"] + case["outputs"]:
                        check(os.path.exists(os.path.join(out, "selftest", e["file"])), f"missing {e['file']}", errs)
                print(f"selftest: {len(st['cases'])} cases, {size / 1e3:.0f} kB")
                fp32_total = total
            else:
                check(total < 0.6 * fp32_total, "fp16 bundle is not about half the fp32 size", errs)
        try:
            from onnx import reference  # noqa: F401  (onnx >= 1.13)
            print("onnx.reference available: numerics are also checked by the TS selftest")
        except ImportError:
            print(f"onnx {onnx.__version__} has no onnx.reference: runtime numerics left to test/models (onnxruntime-node)")
    for e in errs:
        print("FAIL:", e)
    print("FAIL" if errs else "PASS")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(run())
