"""Read a safetensors checkpoint (single file or sharded with model.safetensors.index.json) with
numpy only: Debian's torch 1.13 has no `safetensors` module. Format: u64 little-endian header
length, JSON header {name: {dtype, shape, data_offsets}}, raw row-major data after the header."""
import json
import os
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_file(path):
    """name -> float32 ndarray for every tensor in one .safetensors file."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        raw = data[begin:end]
        shape = meta["shape"]
        if end > len(data):
            raise ValueError(f"{path}: tensor {name} lies past the end of the file (truncated)")
        if meta["dtype"] == "BF16":
            # bf16 is the high half of an f32.
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
            arr = (u16 << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_NP[meta["dtype"]]).newbyteorder("<")).astype(np.float32)
        out[name] = arr.reshape(shape).copy()
    return out


def read_checkpoint(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        out = {}
        for shard in sorted(set(weight_map.values())):
            out.update(read_file(os.path.join(folder, shard)))
        missing = set(weight_map) - set(out)
        if missing:
            raise ValueError(f"index lists tensors no shard has: {sorted(missing)[:5]}")
        return out
    return read_file(os.path.join(folder, "model.safetensors"))
