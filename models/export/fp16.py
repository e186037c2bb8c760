"""float16 bundles: float16 weights and float16 graph inputs/outputs, float32 compute.

Why not trace a half-precision model: torch 1.13 has no CPU kernels for several half ops
(LayerNorm, softmax), and onnxruntime's CPU provider lacks float16 kernels for many ops,
so a true-fp16 graph would be slower on CPU and risk overflow in softmax over ~29k
memory keys. Storing weights in float16 halves the download; each weight is Cast back to
float32 once (onnxruntime folds these Casts at session start), inputs are Cast up and
outputs Cast down at the graph boundary, so numerics stay float32 inside.
"""
from __future__ import annotations

import numpy as np


def convert_to_fp16(src: str, dst: str) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(src)
    g = model.graph
    new_nodes = []
    # 1) float32 initializers -> float16 initializer + Cast(to float32) under the old name.
    new_inits = []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT:
            arr = numpy_helper.to_array(init)
            half = numpy_helper.from_array(np.clip(arr, -65504, 65504).astype(np.float16), init.name + "__fp16")
            new_inits.append(half)
            new_nodes.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                              name=init.name + "__cast32"))
        else:
            new_inits.append(init)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    # 2) float inputs: the graph now receives float16; Cast to float32 for the body.
    for inp in g.input:
        tt = inp.type.tensor_type
        if tt.elem_type == TensorProto.FLOAT:
            inner = inp.name + "__fp32"
            for node in g.node:
                for i, n in enumerate(node.input):
                    if n == inp.name:
                        node.input[i] = inner
            for out in g.output:  # an input passed straight through (not the case today)
                assert out.name != inp.name
            tt.elem_type = TensorProto.FLOAT16
            new_nodes.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.FLOAT,
                                              name=inp.name + "__in_cast"))
    # 3) float outputs: produced as float32 inside, Cast down at the boundary.
    tail = []
    for out in g.output:
        tt = out.type.tensor_type
        if tt.elem_type == TensorProto.FLOAT:
            inner = out.name + "__fp32"
            for node in g.node:
                for i, n in enumerate(node.output):
                    if n == out.name:
                        node.output[i] = inner
                for i, n in enumerate(node.input):
                    if n == out.name:
                        node.input[i] = inner
            tt.elem_type = TensorProto.FLOAT16
            tail.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT16,
                                         name=out.name + "__out_cast"))
    body = list(g.node)
    del g.node[:]
    g.node.extend(new_nodes + body + tail)
    # Value-info of renamed tensors is stale; drop it (shape inference can rebuild it).
    del g.value_info[:]
    onnx.save(model, dst)
