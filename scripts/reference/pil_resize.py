#!/usr/bin/python3
"""Golden outputs of PIL's bicubic resize, the upstream frame preprocessing, for src/gpu/kernels/resize.test.ts.

Run with the system Python (Debian python3-pil 9.4, python3-numpy):
    /usr/bin/python3 scripts/reference/pil_resize.py

Each case builds a deterministic RGB uint8 image from integer-only formulas (a 32-bit hash for noise;
no floating point, so the TypeScript test rebuilds the exact same bytes), resizes it with
`Image.resize((S, S), Image.BICUBIC)` exactly as upstream does, and writes the S×S×3 uint8 result,
gzipped, to test-data/goldens/resize/<name>.rgb.gz. index.json lists the cases with an FNV-1a hash of
the input bytes, so a generator mismatch is reported as such and not as a resize error.
"""

import gzip
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test-data", "goldens", "resize")

# (name, W, H, S, pattern, seed). Sizes cover downscale (PIL's antialiasing support widening),
# upscale, odd sizes, very different x/y factors, identity, tiny inputs and S = 1.
CASES = [
    ("noise_161x121_s64", 161, 121, 64, "noise", 1),
    ("mixed_161x121_s192", 161, 121, 192, "mixed", 2),
    ("noise_1280x720_s384", 1280, 720, 384, "noise", 3),
    ("gradient_1280x720_s384", 1280, 720, 384, "gradient", 4),
    ("blocks_1920x1080_s64", 1920, 1080, 64, "blocks", 5),
    ("mixed_100x500_s64", 100, 500, 64, "mixed", 6),
    ("noise_500x100_s37", 500, 100, 37, "noise", 7),
    ("mixed_200x200_s384", 200, 200, 384, "mixed", 8),
    ("checker_384x384_s384", 384, 384, 384, "checker", 9),
    ("noise_96x61_s96", 96, 61, 96, "noise", 10),
    ("checker_3x2_s64", 3, 2, 64, "checker", 11),
    ("noise_7x5_s5", 7, 5, 5, "noise", 12),
    ("noise_33x17_s1", 33, 17, 1, "noise", 13),
]

M32 = np.uint64(0xFFFFFFFF)


def hash32(x, y, c, seed):
    """murmur3-style finaliser of a mixed coordinate key, all arithmetic mod 2^32 (uint64 then masked)."""
    h = (x * np.uint64(73856093)) ^ (y * np.uint64(19349663)) ^ (c * np.uint64(83492791)) ^ np.uint64(seed)
    h &= M32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & M32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & M32
    h ^= h >> np.uint64(16)
    return h


def make_image(w, h, pattern, seed):
    y, x, c = np.meshgrid(np.arange(h, dtype=np.uint64), np.arange(w, dtype=np.uint64), np.arange(3, dtype=np.uint64), indexing="ij")
    if pattern == "noise":
        v = hash32(x, y, c, seed) & np.uint64(255)
    elif pattern == "gradient":
        xi, yi, ci = x.astype(np.int64), y.astype(np.int64), c.astype(np.int64)
        r = (xi * 255) // max(w - 1, 1)
        g = (yi * 255) // max(h - 1, 1)
        b = ((xi + yi) * 255) // max(w + h - 2, 1)
        v = np.where(ci == 0, r, np.where(ci == 1, g, b))
    elif pattern == "checker":
        # 0/255 cells of a different size per channel: hard edges drive the cubic's overshoot into clipping.
        shift = c + np.uint64(1)
        v = (((x >> shift) ^ (y >> shift)) & np.uint64(1)) * np.uint64(255)
    elif pattern == "blocks":
        # 32/64/128-pixel cells: edges that survive a large downscale.
        shift = c + np.uint64(5)
        v = (((x >> shift) ^ (y >> shift)) & np.uint64(1)) * np.uint64(255)
    elif pattern == "mixed":
        # checker blocks plus low-amplitude noise plus a ramp: edges and texture at once.
        cell = (((x >> np.uint64(3)) ^ (y >> np.uint64(2))) & np.uint64(1)) * np.uint64(160)
        noise = hash32(x, y, c, seed) & np.uint64(63)
        ramp = ((x + y * np.uint64(2) + c * np.uint64(40)) % np.uint64(32))
        v = cell + noise + ramp
    else:
        raise ValueError(pattern)
    return v.astype(np.uint8)


def fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def main():
    os.makedirs(OUT, exist_ok=True)
    index = {"pil_version": PIL.__version__, "python": sys.version.split()[0], "cases": []}
    total = 0
    for name, w, h, s, pattern, seed in CASES:
        arr = make_image(w, h, pattern, seed)
        img = Image.fromarray(arr, "RGB")
        out = np.asarray(img.resize((s, s), Image.BICUBIC))
        assert out.shape == (s, s, 3) and out.dtype == np.uint8
        path = os.path.join(OUT, f"{name}.rgb.gz")
        with open(path, "wb") as f:
            # mtime=0 keeps the file byte-identical across runs.
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=9) as gz:
                gz.write(out.tobytes())
        total += os.path.getsize(path)
        index["cases"].append(
            {"name": name, "W": w, "H": h, "S": s, "pattern": pattern, "seed": seed, "inputFnv1a": fnv1a(arr.tobytes()), "file": f"{name}.rgb.gz"}
        )
        print(f"{name}: {w}x{h} -> {s}x{s} ({os.path.getsize(path)} bytes)")
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
