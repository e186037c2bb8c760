"""Export a SAM 2 / 2.1 model (official or trained checkpoint, or random weights) to a
cineseg bundle: manifest.json + the four ONNX graphs of models/BUNDLE.md.

    cd /work/main && /usr/bin/python3 -m models.export.export_bundle \
        --config tiny-synth --random-weights --seed 0 --out models/tiny/work/random-bundle
    /usr/bin/python3 -m models.export.export_bundle --config sam2.1_hiera_t \
        --checkpoint sam2.1_hiera_tiny.pt --out /tmp/sam21t [--fp16]

Graphs are traced with torch.onnx.export at opset 17 (works on torch 1.13 and >= 2) and
checked with onnx.checker. onnxruntime is not required here: `--selftest` writes small
input/output samples (selftest.json + *.bin) that the TypeScript tests replay through
onnxruntime-node to prove ONNX == PyTorch.
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

if __package__ in (None, ""):
    # Allow `python3 models/export/export_bundle.py` as well as `-m models.export.export_bundle`.
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from models.sam2 import SAM2Model, build_model  # noqa: E402
from models.export.fp16 import convert_to_fp16  # noqa: E402

OPSET = 17

# --------------------------------------------------------------------------- graph wrappers
# Each wrapper is exactly one contract graph: argument order = ONNX input order.


class ImageEncoderGraph(nn.Module):
    def __init__(self, m: SAM2Model) -> None:
        super().__init__()
        self.m = m

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        return self.m.encode_image(image)


class MemoryAttentionGraph(nn.Module):
    def __init__(self, m: SAM2Model) -> None:
        super().__init__()
        self.m = m

    def forward(self, vision_feat: Tensor, memory: Tensor, memory_tpos: Tensor, obj_ptrs: Tensor,
                obj_ptr_tpos: Tensor) -> Tensor:
        return self.m.condition(vision_feat, memory, memory_tpos, obj_ptrs, obj_ptr_tpos)


class MaskDecoderGraph(nn.Module):
    def __init__(self, m: SAM2Model) -> None:
        super().__init__()
        self.m = m

    def forward(self, image_embed: Tensor, high_res_feat0: Tensor, high_res_feat1: Tensor, point_coords: Tensor,
                point_labels: Tensor, mask_input: Tensor, has_mask_input: Tensor):
        return self.m.decode(image_embed, high_res_feat0, high_res_feat1, point_coords, point_labels, mask_input,
                             has_mask_input)


class MemoryEncoderGraph(nn.Module):
    def __init__(self, m: SAM2Model) -> None:
        super().__init__()
        self.m = m

    def forward(self, vision_feat: Tensor, mask_for_mem: Tensor, object_score_logits: Tensor) -> Tensor:
        return self.m.encode_memory(vision_feat, mask_for_mem, object_score_logits)


# --------------------------------------------------------------------------- I/O specs
Shape = List[object]  # ints or symbolic names


def graph_specs(m: SAM2Model) -> Dict[str, Dict[str, object]]:
    """Contract I/O (BUNDLE.md): name -> (inputs, outputs) as [name, dtype, shape]."""
    C, Cm, S, h = m.hidden_dim, m.mem_dim, m.image_size, m.cfg.feat_size
    f = "float32"
    return {
        "imageEncoder": {
            "file": "image_encoder.onnx",
            "inputs": [("image", f, [1, 3, S, S])],
            "outputs": [("vision_feat", f, [1, C, h, h]), ("high_res_feat0", f, [1, C // 8, 4 * h, 4 * h]),
                        ("high_res_feat1", f, [1, C // 4, 2 * h, 2 * h])],
        },
        "memoryAttention": {
            "file": "memory_attention.onnx",
            "inputs": [("vision_feat", f, [1, C, h, h]), ("memory", f, ["B", "Nm", Cm, h, h]),
                       ("memory_tpos", "int64", ["Nm"]), ("obj_ptrs", f, ["B", "Np", C]),
                       ("obj_ptr_tpos", f, ["Np"])],
            "outputs": [("conditioned_feat", f, ["B", C, h, h])],
        },
        "maskDecoder": {
            "file": "mask_decoder.onnx",
            "inputs": [("image_embed", f, ["B", C, h, h]), ("high_res_feat0", f, [1, C // 8, 4 * h, 4 * h]),
                       ("high_res_feat1", f, [1, C // 4, 2 * h, 2 * h]), ("point_coords", f, ["B", "N", 2]),
                       ("point_labels", f, ["B", "N"]), ("mask_input", f, ["B", 1, 4 * h, 4 * h]),
                       ("has_mask_input", f, ["B"])],
            "outputs": [("low_res_masks", f, ["B", 4, 4 * h, 4 * h]), ("iou_scores", f, ["B", 4]),
                        ("obj_ptrs", f, ["B", 4, C]), ("object_score_logits", f, ["B", 1])],
        },
        "memoryEncoder": {
            "file": "memory_encoder.onnx",
            "inputs": [("vision_feat", f, [1, C, h, h]), ("mask_for_mem", f, ["B", 1, S, S]),
                       ("object_score_logits", f, ["B", 1])],
            "outputs": [("maskmem_features", f, ["B", Cm, h, h])],
        },
    }


# Sizes used for tracing: all > 1 and distinct so no dynamic axis gets specialised.
TRACE_SIZES = {"B": 2, "Nm": 3, "Np": 5, "N": 2}


def sample_inputs(m: SAM2Model, graph: str, g: torch.Generator, sizes: Dict[str, int],
                  prev: Optional[Dict[str, Tensor]] = None) -> Dict[str, Tensor]:
    """Plausible inputs for a graph (random but in-range). `prev` supplies real upstream
    outputs (e.g. image features) so sample values look like production values."""
    spec = graph_specs(m)[graph]
    out: Dict[str, Tensor] = {}
    S = m.image_size
    for name, dtype, shape in spec["inputs"]:  # type: ignore[misc]
        dims = [sizes[d] if isinstance(d, str) else d for d in shape]
        if prev is not None and name in prev and list(prev[name].shape) == dims:
            out[name] = prev[name]
            continue
        if name == "memory_tpos":
            # Conditioning frame first (index numMaskmem-1), then recent frames.
            vals = [m.num_maskmem - 1] + [m.num_maskmem - 1 - t for t in range(dims[0] - 1, 0, -1)]
            out[name] = torch.tensor(vals[: dims[0]], dtype=torch.int64)
        elif name == "obj_ptr_tpos":
            out[name] = torch.linspace(-0.2, 1.0, dims[0])
        elif name == "point_coords":
            out[name] = torch.rand(dims, generator=g) * S
        elif name == "point_labels":
            lab = torch.tensor([1.0, 0.0, 2.0, 3.0, -1.0])
            out[name] = lab[torch.randint(0, 5, dims, generator=g)]
            out[name][:, 0] = 1.0
        elif name == "has_mask_input":
            out[name] = (torch.arange(dims[0]) % 2 == 0).float()
        elif name == "mask_for_mem":
            yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
            disks = [(((xx - S * (0.3 + 0.4 * i / max(1, dims[0] - 1))) ** 2 + (yy - S / 2) ** 2) < (S / 5) ** 2)
                     for i in range(dims[0])]
            out[name] = torch.stack(disks).float()[:, None]
        elif name == "object_score_logits":
            v = torch.linspace(3.0, -2.0, dims[0]).reshape(-1, 1)
            out[name] = v
        elif name == "mask_input":
            out[name] = torch.randn(dims, generator=g) * 8.0
        elif name == "image":
            out[name] = torch.randn(dims, generator=g)
        else:
            out[name] = torch.randn(dims, generator=g)
    return out


def _wrapper(m: SAM2Model, graph: str) -> nn.Module:
    return {"imageEncoder": ImageEncoderGraph, "memoryAttention": MemoryAttentionGraph,
            "maskDecoder": MaskDecoderGraph, "memoryEncoder": MemoryEncoderGraph}[graph](m).eval()


def persist_buffers(m: nn.Module) -> None:
    """Make every non-persistent buffer (RoPE cos/sin, sine grids) persistent on this
    instance. torch.onnx takes initializers from the state dict and inlines other tensors
    as a Constant at *each use*, which copied the RoPE tables ~30 times; as state-dict
    entries they become one shared initializer. Export-only: this instance's state dict
    then has extra keys, so never save it as a checkpoint."""
    for mod in m.modules():
        mod._non_persistent_buffers_set.clear()


def export_graph(m: SAM2Model, graph: str, path: str, inputs: Dict[str, Tensor]) -> None:
    spec = graph_specs(m)[graph]
    in_names = [n for n, _, _ in spec["inputs"]]  # type: ignore[misc]
    out_names = [n for n, _, _ in spec["outputs"]]  # type: ignore[misc]
    dyn: Dict[str, Dict[int, str]] = {}
    for n, _, shape in list(spec["inputs"]) + list(spec["outputs"]):  # type: ignore[misc]
        axes = {i: d for i, d in enumerate(shape) if isinstance(d, str)}
        if axes:
            dyn[n] = axes
    args = tuple(inputs[n] for n in in_names)
    kwargs: Dict[str, object] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        # torch >= 2.9 defaults to the dynamo exporter; the TorchScript tracer is what we test.
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(_wrapper(m, graph), args, path, opset_version=OPSET, input_names=in_names,
                          output_names=out_names, dynamic_axes=dyn, do_constant_folding=True, **kwargs)


def stamp_io_shapes(path: str, spec: Dict[str, object]) -> None:
    """Write the contract's shapes onto the graph's inputs/outputs: the tracer leaves
    output dims as auto-named symbols (e.g. 'Addvision_feat_dim_0'), but the engine checks
    fixed dims against the manifest, so fixed dims get values and dynamic ones our names."""
    import onnx

    model = onnx.load(path)
    for kind, vis in (("inputs", model.graph.input), ("outputs", model.graph.output)):
        want = {n: s for n, _, s in spec[kind]}  # type: ignore[index]
        for v in vis:
            dims = v.type.tensor_type.shape.dim
            shape = want[v.name]
            if len(dims) != len(shape):
                raise RuntimeError(f"{path}: {v.name} has rank {len(dims)}, contract {shape}")
            for d, w in zip(dims, shape):
                if isinstance(w, int):
                    if d.HasField("dim_value") and d.dim_value != w:
                        raise RuntimeError(f"{path}: {v.name} dim {d.dim_value} != {w}")
                    d.dim_value = w
                else:
                    d.dim_param = w
    onnx.save(model, path)


def check_graph(path: str, spec: Dict[str, object], precision: str) -> None:
    """onnx.checker plus the contract: names, order, dtypes and ranks as in the manifest."""
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model)
    tmap = {1: "float32", 10: "float16", 7: "int64"}
    for kind, vis in (("inputs", model.graph.input), ("outputs", model.graph.output)):
        want = spec[kind]  # type: ignore[index]
        got = [(v.name, tmap.get(v.type.tensor_type.elem_type, "?"),
                [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim])
               for v in vis]
        if [g[0] for g in got] != [w[0] for w in want]:
            raise RuntimeError(f"{path}: {kind} names {[g[0] for g in got]} != {[w[0] for w in want]}")
        for (name, dt, shape), (_, wdt, wshape) in zip(got, want):
            if precision == "fp16" and wdt == "float32":
                wdt = "float16"
            if dt != wdt or len(shape) != len(wshape):
                raise RuntimeError(f"{path}: {name} is {dt}{shape}, contract says {wdt}{wshape}")
            for a, b in zip(shape, wshape):
                if isinstance(b, int) and a != b:
                    raise RuntimeError(f"{path}: {name} dim {a} != {b}")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- selftest vectors
class SelftestWriter:
    """Raw little-endian tensors + selftest.json. Storage kinds:
    - "float32" / "int64": raw values;
    - "u8-image": uint8 RGB HxWx3 (row-major), to be normalised like a frame:
      (x / 255 - pixelMean[c]) / pixelStd[c], then laid out as [1, 3, S, S];
    - "u8": uint8 values, read as float32 (binary masks).
    Identical tensors are written once and shared by file name."""

    def __init__(self, out_dir: str) -> None:
        self.dir = os.path.join(out_dir, "selftest")
        os.makedirs(self.dir, exist_ok=True)
        self.files: Dict[str, str] = {}
        self.count = 0
        self.bytes = 0

    def put(self, key: str, t: Tensor, storage: str = "") -> Dict[str, object]:
        arr = t.detach().cpu().numpy()
        if not storage:
            storage = "int64" if arr.dtype == np.int64 else "float32"
        if storage == "float32":
            data = arr.astype("<f4").tobytes()
        elif storage == "int64":
            data = arr.astype("<i8").tobytes()
        elif storage == "u8":
            data = arr.astype(np.uint8).tobytes()
        else:
            raise ValueError(storage)
        digest = hashlib.sha1(data).hexdigest()
        if digest not in self.files:
            fname = f"{key}.bin"
            with open(os.path.join(self.dir, fname), "wb") as fh:
                fh.write(data)
            self.files[digest] = fname
            self.bytes += len(data)
        return {"name": key.split(".")[-1], "file": self.files[digest], "storage": storage,
                "dtype": "int64" if storage == "int64" else "float32", "shape": list(arr.shape)}

    def put_image(self, key: str, u8: np.ndarray) -> Dict[str, object]:
        data = u8.astype(np.uint8).tobytes()
        fname = f"{key}.bin"
        with open(os.path.join(self.dir, fname), "wb") as fh:
            fh.write(data)
        self.bytes += len(data)
        return {"name": "image", "file": fname, "storage": "u8-image", "dtype": "float32",
                "shape": [1, 3, u8.shape[0], u8.shape[1]]}


def synthetic_frame(S: int, seed: int) -> np.ndarray:
    """A smooth textured frame with a bright disk (uint8 HxWx3): realistic enough for features."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
    base = 90 + 40 * np.sin(6.0 * xx + 2.0) * np.cos(4.0 * yy) + rng.randn(S, S) * 8
    disk = ((xx - 0.55) ** 2 + (yy - 0.45) ** 2) < 0.18 ** 2
    img = np.stack([base + 120 * disk, base * 0.9 + 100 * disk, base * 0.8 + 60 * disk], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_selftest(m: SAM2Model, out_dir: str, seed: int) -> Dict[str, object]:
    """Chain the four graphs on one synthetic frame and record inputs/outputs (< 1 MB for
    the tiny model). Sizes B=2, Nm=2, Np=3, N=2 exercise the dynamic axes."""
    S = m.image_size
    cfg = m.cfg
    w = SelftestWriter(out_dir)
    g = torch.Generator().manual_seed(seed + 1)
    u8 = synthetic_frame(S, seed)
    mean = torch.tensor(cfg.pixel_mean).reshape(1, 3, 1, 1)
    std = torch.tensor(cfg.pixel_std).reshape(1, 3, 1, 1)
    image = (torch.from_numpy(u8).permute(2, 0, 1)[None].float() / 255.0 - mean) / std
    cases = []
    with torch.no_grad():
        vf, hr0, hr1 = m.encode_image(image)
        cases.append({"graph": "imageEncoder", "inputs": [w.put_image("imageEncoder.image", u8)],
                      "outputs": [w.put("imageEncoder.vision_feat", vf), w.put("imageEncoder.high_res_feat0", hr0),
                                  w.put("imageEncoder.high_res_feat1", hr1)]})
        sizes = {"B": 2, "Nm": 2, "Np": 3, "N": 2}
        # Memory: encode the frame with two masks to get realistic memory values.
        me_in = sample_inputs(m, "memoryEncoder", g, sizes, {"vision_feat": vf})
        mem = m.encode_memory(me_in["vision_feat"], me_in["mask_for_mem"], me_in["object_score_logits"])
        cases.append({"graph": "memoryEncoder",
                      "inputs": [w.put("shared.vision_feat", vf),
                                 w.put("memoryEncoder.mask_for_mem", me_in["mask_for_mem"], "u8"),
                                 w.put("memoryEncoder.object_score_logits", me_in["object_score_logits"])],
                      "outputs": [w.put("memoryEncoder.maskmem_features", mem)]})
        memory = torch.stack([mem, mem.flip(0)], dim=1)  # [B=2, Nm=2, Cm, h, w]
        memory_tpos = torch.tensor([m.num_maskmem - 1, m.num_maskmem - 2], dtype=torch.int64)
        obj_ptrs = torch.randn(2, 3, m.hidden_dim, generator=g)
        obj_ptr_tpos = torch.tensor([0.4, 0.2, -0.1])
        cond = m.condition(vf, memory, memory_tpos, obj_ptrs, obj_ptr_tpos)
        cases.append({"graph": "memoryAttention",
                      "inputs": [w.put("shared.vision_feat", vf), w.put("memoryAttention.memory", memory),
                                 w.put("memoryAttention.memory_tpos", memory_tpos),
                                 w.put("memoryAttention.obj_ptrs", obj_ptrs),
                                 w.put("memoryAttention.obj_ptr_tpos", obj_ptr_tpos)],
                      "outputs": [w.put("memoryAttention.conditioned_feat", cond)]})
        coords = torch.tensor([[[0.55 * S, 0.45 * S], [0.1 * S, 0.9 * S]], [[0.3 * S, 0.3 * S], [0.0, 0.0]]])
        labels = torch.tensor([[1.0, 0.0], [1.0, -1.0]])
        mask_in = torch.clamp(torch.randn(2, 1, 4 * cfg.feat_size, 4 * cfg.feat_size, generator=g) * 10, -32, 32)
        has_mask = torch.tensor([0.0, 1.0])
        outs = m.decode(cond, hr0, hr1, coords, labels, mask_in, has_mask)
        names = ["low_res_masks", "iou_scores", "obj_ptrs", "object_score_logits"]
        cases.append({"graph": "maskDecoder",
                      "inputs": [dict(w.put("memoryAttention.conditioned_feat", cond), name="image_embed"),
                                 w.put("imageEncoder.high_res_feat0", hr0), w.put("imageEncoder.high_res_feat1", hr1),
                                 w.put("maskDecoder.point_coords", coords), w.put("maskDecoder.point_labels", labels),
                                 w.put("maskDecoder.mask_input", mask_in),
                                 w.put("maskDecoder.has_mask_input", has_mask)],
                      "outputs": [w.put(f"maskDecoder.{n}", t) for n, t in zip(names, outs)]})
    doc = {
        "about": "Inputs/outputs of each graph computed by PyTorch (models/sam2) for ONNX parity tests. "
                 "Files are little-endian; see SelftestWriter in models/export/export_bundle.py for storage kinds.",
        # fp32 ONNX vs PyTorch differ by op order only; logits of masks can be ~30 in magnitude.
        "tolerance": {"atol": 2e-3, "rtol": 2e-3},
        "cases": cases,
        "bytes": w.bytes,
    }
    with open(os.path.join(w.dir, "selftest.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
    return doc


# --------------------------------------------------------------------------- main
def export_bundle(config: str, out: str, checkpoint: Optional[str] = None, random_weights: bool = False,
                  seed: int = 0, image_size: Optional[int] = None, fp16: bool = False,
                  selftest: Optional[bool] = None, name: Optional[str] = None,
                  training: Optional[Dict[str, object]] = None, quiet: bool = False) -> Dict[str, object]:
    """Export and return the manifest. Exactly one of checkpoint / random_weights."""
    if bool(checkpoint) == bool(random_weights):
        raise ValueError("give exactly one of checkpoint or random_weights")
    log = (lambda *a: None) if quiet else (lambda *a: print("[export]", *a, flush=True))
    torch.manual_seed(seed)
    t0 = time.time()
    m = build_model(config, checkpoint=checkpoint, image_size=image_size)
    m.eval()
    h = m.cfg.feat_size
    m.image_encoder.trunk.freeze_pos_embed(4 * h, 4 * h)
    constants = m.constants()
    persist_buffers(m)
    os.makedirs(out, exist_ok=True)
    precision = "fp16" if fp16 else "fp32"
    specs = graph_specs(m)
    g = torch.Generator().manual_seed(seed)
    timings: Dict[str, float] = {}
    prev: Dict[str, Tensor] = {}
    for graph in ("imageEncoder", "memoryEncoder", "memoryAttention", "maskDecoder"):
        t = time.time()
        path = os.path.join(out, specs[graph]["file"])  # type: ignore[arg-type]
        inputs = sample_inputs(m, graph, g, TRACE_SIZES, prev)
        if graph == "imageEncoder":
            with torch.no_grad():
                vf, hr0, hr1 = m.encode_image(inputs["image"])
            prev = {"vision_feat": vf, "high_res_feat0": hr0, "high_res_feat1": hr1}
        export_graph(m, graph, path, inputs)
        stamp_io_shapes(path, specs[graph])
        if fp16:
            convert_to_fp16(path, path)
        check_graph(path, specs[graph], precision)
        timings[graph] = round(time.time() - t, 2)
        log(f"{graph}: {os.path.getsize(path) / 1e6:.2f} MB in {timings[graph]} s")

    def io(entries: Sequence[Tuple[str, str, Shape]]) -> List[Dict[str, object]]:
        return [{"name": n, "dtype": ("float16" if fp16 and d == "float32" else d), "shape": s} for n, d, s in entries]

    cfg = m.cfg
    manifest: Dict[str, object] = {
        "format": "cineseg-bundle",
        "formatVersion": 1,
        "name": name or f"{cfg.name}-{cfg.image_size}" + ("-random" if random_weights else "") + ("-fp16" if fp16 else ""),
        "architecture": cfg.architecture,
        "config": cfg.name,
        "precision": precision,
        "imageSize": cfg.image_size,
        "pixelMean": list(cfg.pixel_mean),
        "pixelStd": list(cfg.pixel_std),
        "hiddenDim": cfg.hidden_dim,
        "memDim": cfg.mem_dim,
        "featureSize": cfg.feat_size,
        "lowResMaskSize": 4 * cfg.feat_size,
        "memory": cfg.memory_settings(),
        "constants": constants,
        "graphs": {k: {"file": v["file"], "inputs": io(v["inputs"]), "outputs": io(v["outputs"])}  # type: ignore
                   for k, v in specs.items()},
    }
    if training:
        manifest["training"] = training
    source: Dict[str, object] = {"exporter": "models/export/export_bundle.py", "opset": OPSET,
                                 "torch": torch.__version__,
                                 "parameters": int(sum(p.numel() for p in m.parameters()))}
    if checkpoint:
        source.update({"checkpoint": os.path.basename(checkpoint), "sha256": sha256_file(checkpoint)})
        if os.path.basename(checkpoint).startswith("sam2"):
            source["licence"] = "Apache-2.0 (Meta SAM 2 checkpoints)"
    else:
        source.update({"checkpoint": None, "randomWeights": True, "seed": seed})
    manifest["source"] = source
    if selftest is None:
        selftest = (not fp16) and cfg.image_size <= 256
    if selftest:
        if fp16:
            raise ValueError("selftest vectors are written for fp32 bundles only")
        doc = write_selftest(m, out, seed)
        manifest["selftest"] = "selftest/selftest.json"
        log(f"selftest: {len(doc['cases'])} cases, {doc['bytes'] / 1e3:.0f} kB")
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
    log(f"bundle {out} written in {time.time() - t0:.1f} s")
    return manifest


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="official .pt ({'model': sd}) or a plain state_dict .pt")
    src.add_argument("--random-weights", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--fp16", action="store_true", help="float16 weights and I/O (compute stays float32)")
    ap.add_argument("--selftest", dest="selftest", action="store_true", default=None)
    ap.add_argument("--no-selftest", dest="selftest", action="store_false")
    ap.add_argument("--name", default=None)
    ap.add_argument("--training-json", default=None, help="JSON file merged as manifest.training")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    training = None
    if a.training_json:
        with open(a.training_json) as fh:
            training = json.load(fh)
    export_bundle(a.config, a.out, checkpoint=a.checkpoint, random_weights=a.random_weights, seed=a.seed,
                  image_size=a.image_size, fp16=a.fp16, selftest=a.selftest, name=a.name, training=training)
    return 0


if __name__ == "__main__":
    sys.exit(main())
