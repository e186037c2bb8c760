"""Dynamic int8 quantisation of a bundle's graphs, bundle -> bundle, with the `onnx` package only
(no onnxruntime.quantization: the onnxruntime python wheel is not on every machine).

For each chosen graph, every MatMul whose right-hand side is a constant 2-D weight [K, N], and
every Gemm with a constant 2-D B (alpha = beta = 1, transA = 0), becomes

    x --DynamicQuantizeLinear--> (x_u8, x_scale, x_zp)
    MatMulInteger(x_u8, W_i8, x_zp, 0) --Cast(float)--> * (x_scale * w_scale[N]) (+ bias)

with W stored as int8, symmetric, one scale per output column (per channel) or one per tensor.
These are the ops onnxruntime's CPU provider runs as integer kernels (the same pattern its own
quantize_dynamic writes for MatMul). Activations are quantised per call (per tensor, asymmetric
uint8), so no calibration data is needed. Conv is left in float32: the convolutions here are a
small share of the time (patch embedding on 3 channels, 1x1 neck projections, the memory
encoder's fuser) and ConvInteger's CPU kernel has a narrower type support.

The manifest keeps `precision: "fp32"` (graph inputs/outputs are still float32) and records
`quantization`: method, graphs, scheme, and how many nodes of each graph were quantised.

    /usr/bin/python3 -m models.export.quantize_int8 SRC DST [--graphs imageEncoder,memoryAttention] [--per-tensor]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from models.export.to_fp16 import write_converted_manifest  # noqa: E402

GRAPH_KEYS = ("imageEncoder", "memoryAttention", "maskDecoder", "memoryEncoder")
# Weights smaller than this (K * N) stay float: the quantise / dequantise ops would cost more than
# the integer product saves (e.g. the 2 x C point-embedding matrix).
MIN_WEIGHT_ELEMENTS = 256


def _constants(g) -> Dict[str, np.ndarray]:
    """Constant tensors by name: initializers and the outputs of Constant nodes."""
    from onnx import numpy_helper

    out = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and len(n.output) == 1:
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = numpy_helper.to_array(a.t)
    return out


def _quantize_weight(w: np.ndarray, per_channel: bool):
    """[K, N] float -> (int8 [K, N], float32 scale [N] or scalar): symmetric, zero point 0."""
    amax = np.abs(w).max(axis=0) if per_channel else np.array(np.abs(w).max())
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def quantize_graph(src: str, dst: str, per_channel: bool = True) -> Dict[str, int]:
    """Rewrite one ONNX file; returns {'matmul': n, 'gemm': n, 'skipped': n}."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(src)
    g = model.graph
    consts = _constants(g)
    counts = {"matmul": 0, "gemm": 0, "skipped": 0}
    new_inits: List = []
    made: Dict[str, tuple] = {}  # weight name (+ transpose flag) -> (q name, scale name), shared by users
    # One DynamicQuantizeLinear per activation, shared by every node that reads it (Q, K, V projections).
    dql: Dict[str, tuple] = {}
    nodes = []

    def weight(name: str, w: np.ndarray, tag: str):
        key = name + tag
        if key not in made:
            q, s = _quantize_weight(w, per_channel)
            qn, sn = f"{key}__i8", f"{key}__i8scale"
            new_inits.append(numpy_helper.from_array(q, qn))
            new_inits.append(numpy_helper.from_array(s, sn))
            made[key] = (qn, sn)
        return made[key]

    zp_name = "__i8_zero"
    new_inits.append(numpy_helper.from_array(np.array(0, dtype=np.int8), zp_name))

    def quantized_product(node, x: str, qn: str, sn: str, out: str, bias: Optional[str]) -> List:
        base = node.name or out
        made_nodes = []
        if x not in dql:
            xq, xs, xz = f"{x}__u8", f"{x}__scale", f"{x}__zp"
            made_nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [xq, xs, xz], name=f"{base}__dql"))
            dql[x] = (xq, xs, xz)
        xq, xs, xz = dql[x]
        acc, accf, sc = f"{base}__i32", f"{base}__f32", f"{base}__s"
        made_nodes.append(helper.make_node("MatMulInteger", [xq, qn, xz, zp_name], [acc], name=f"{base}__mmi"))
        made_nodes.append(helper.make_node("Cast", [acc], [accf], to=TensorProto.FLOAT, name=f"{base}__cast"))
        made_nodes.append(helper.make_node("Mul", [xs, sn], [sc], name=f"{base}__scale"))
        if bias is None:
            made_nodes.append(helper.make_node("Mul", [accf, sc], [out], name=f"{base}__dq"))
        else:
            mid = f"{base}__nobias"
            made_nodes.append(helper.make_node("Mul", [accf, sc], [mid], name=f"{base}__dq"))
            made_nodes.append(helper.make_node("Add", [mid, bias], [out], name=f"{base}__bias"))
        return made_nodes

    for node in g.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "MatMul" and node.input[1] in consts:
            w = consts[node.input[1]]
            if w.ndim == 2 and w.dtype == np.float32 and w.size >= MIN_WEIGHT_ELEMENTS:
                qn, sn = weight(node.input[1], w, "")
                nodes += quantized_product(node, node.input[0], qn, sn, node.output[0], None)
                counts["matmul"] += 1
                continue
            counts["skipped"] += 1
        elif node.op_type == "Gemm" and node.input[1] in consts:
            w = consts[node.input[1]]
            ok = (w.ndim == 2 and w.dtype == np.float32 and w.size >= MIN_WEIGHT_ELEMENTS and attrs.get("transA", 0) == 0
                  and float(attrs.get("alpha", 1.0)) == 1.0 and float(attrs.get("beta", 1.0)) == 1.0)
            if ok:
                trans = attrs.get("transB", 0) == 1
                qn, sn = weight(node.input[1], w.T if trans else w, "__T" if trans else "")
                bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
                nodes += quantized_product(node, node.input[0], qn, sn, node.output[0], bias)
                counts["gemm"] += 1
                continue
            counts["skipped"] += 1
        nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    # Drop the float weights (and Constant nodes) nothing reads any more.
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    live = [n for n in g.node if not (n.op_type == "Constant" and n.output[0] not in used)]
    del g.node[:]
    g.node.extend(live)
    # MatMulInteger and DynamicQuantizeLinear are opset 10/11 ops: the graphs' opset 17 has them.
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return counts


def quantize_bundle(src: str, dst: str, graphs: Sequence[str], per_channel: bool = True) -> dict:
    with open(os.path.join(src, "manifest.json")) as fh:
        man = json.load(fh)
    if man.get("precision") != "fp32":
        raise ValueError(f"{src} is not an fp32 bundle (precision {man.get('precision')!r}); quantise the fp32 one")
    if man.get("quantization"):
        raise ValueError(f"{src} is already quantised ({man['quantization'].get('method')})")
    unknown = [k for k in graphs if k not in man["graphs"]]
    if unknown or not graphs:
        raise ValueError(f"unknown graph name(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(GRAPH_KEYS)}")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError("the output folder must differ from the input bundle")
    os.makedirs(dst, exist_ok=True)
    nodes: Dict[str, Dict[str, int]] = {}
    for key, g in man["graphs"].items():
        s, d = os.path.join(src, g["file"]), os.path.join(dst, g["file"])
        if key in graphs:
            nodes[key] = quantize_graph(s, d, per_channel)
        else:
            shutil.copyfile(s, d)
    man["name"] = man["name"] + "-int8"
    man["quantization"] = {
        "method": "dynamic-int8",
        "weights": "int8 symmetric " + ("per output channel" if per_channel else "per tensor"),
        "activations": "uint8 asymmetric per tensor, per call (DynamicQuantizeLinear)",
        "ops": "MatMul and Gemm with constant weights -> MatMulInteger",
        "graphs": [k for k in GRAPH_KEYS if k in graphs],
        "nodes": nodes,
    }
    return write_converted_manifest(man, src, dst)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--graphs", default=",".join(GRAPH_KEYS), help="comma-separated graph keys (default: all four)")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per output channel")
    a = ap.parse_args(argv)
    t = time.time()
    graphs = [k.strip() for k in a.graphs.split(",") if k.strip()]
    try:
        man = quantize_bundle(a.src, a.dst, graphs, per_channel=not a.per_tensor)
    except ValueError as err:
        print(f"[quantize_int8] error: {err}", file=sys.stderr)
        return 2
    size = lambda d: sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".onnx"))  # noqa: E731
    print(f"[quantize_int8] {a.dst}: {size(a.src) / 1e6:.1f} -> {size(a.dst) / 1e6:.1f} MB, nodes "
          f"{json.dumps(man['quantization']['nodes'])} in {time.time() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
