"""Convert an exported fp32 bundle to an fp16 one without tracing again (minutes saved for the
big configs): every graph goes through fp16.convert_to_fp16 and the manifest's float32 I/O
become float16. Same result as exporting with --fp16.

    /usr/bin/python3 -m models.export.to_fp16 /tmp/sam21t /tmp/sam21t-fp16
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from models.export.fp16 import convert_to_fp16  # noqa: E402


def bundle_to_fp16(src: str, dst: str) -> dict:
    with open(os.path.join(src, "manifest.json")) as fh:
        man = json.load(fh)
    if man.get("precision") != "fp32":
        raise ValueError(f"{src} is not an fp32 bundle")
    os.makedirs(dst, exist_ok=True)
    for g in man["graphs"].values():
        convert_to_fp16(os.path.join(src, g["file"]), os.path.join(dst, g["file"]))
        for e in g["inputs"] + g["outputs"]:
            if e["dtype"] == "float32":
                e["dtype"] = "float16"
    man["precision"] = "fp16"
    man["name"] = man["name"] + "-fp16"
    return write_converted_manifest(man, src, dst)


def write_converted_manifest(man: dict, src: str, dst: str) -> dict:
    """Writes the manifest of a bundle converted from `src` (fp16, int8): its fp32 selftest
    vectors no longer apply, and it names the bundle it came from."""
    man.pop("selftest", None)
    man.setdefault("source", {})["convertedFrom"] = os.path.basename(os.path.normpath(src))
    with open(os.path.join(dst, "manifest.json"), "w") as fh:
        json.dump(man, fh, indent=2)
    return man


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    t = time.time()
    bundle_to_fp16(args[0], args[1])
    size = sum(os.path.getsize(os.path.join(args[1], f)) for f in os.listdir(args[1]) if f.endswith(".onnx"))
    print(f"[to_fp16] {args[1]}: {size / 1e6:.1f} MB in {time.time() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
