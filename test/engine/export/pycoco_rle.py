"""Independent COCO RLE reader for the export tests: decodes pycocotools' compressed counts
strings (the LEB128-like 6-bit scheme of maskApi.c rleFrString) with plain Python + numpy, and
prints per annotation the area, bbox and a hash of the decoded row-major mask."""
import hashlib
import json
import sys

import numpy as np


def counts_from_string(s):
    counts, p, m = [], 0, 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if m > 2:
            x += counts[m - 2]
        counts.append(x)
        m += 1
    return counts


def decode(rle):
    h, w = rle["size"]
    counts = rle["counts"] if isinstance(rle["counts"], list) else counts_from_string(rle["counts"])
    flat = np.zeros(h * w, dtype=np.uint8)
    pos, val = 0, 0
    for c in counts:
        flat[pos:pos + c] = val
        pos += c
        val ^= 1
    assert pos == h * w, (pos, h * w)
    return flat.reshape((w, h)).T  # column-major runs


def describe(mask):
    ys, xs = np.nonzero(mask)
    area = int(mask.sum())
    bbox = [0, 0, 0, 0] if area == 0 else [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
    return area, bbox, hashlib.sha1(np.ascontiguousarray(mask).tobytes()).hexdigest()


doc = json.load(open(sys.argv[1]))
out = []
if "images" in doc:  # COCO
    for a in doc["annotations"]:
        area, bbox, h = describe(decode(a["segmentation"]))
        out.append({"id": a["id"], "image_id": a["image_id"], "area": area, "bbox": bbox, "hash": h})
else:  # YouTube-VIS
    for a in doc["annotations"]:
        for t, s in enumerate(a["segmentations"]):
            if s is not None:
                area, bbox, h = describe(decode(s))
                out.append({"object_id": a["object_id"], "frame": t, "area": area, "bbox": bbox, "hash": h})
print(json.dumps(out))
