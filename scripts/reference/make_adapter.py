"""Write a PEFT LoRA adapter for the tiny-a fixture with plain numpy, independently of the app's
TypeScript writer: adapter_config.json as PEFT writes it and adapter_model.safetensors under PEFT's
saved names for TinyLLaVA's module tree. The output is committed under test-data/peft-tiny-a/ and
loaded by src/rl-lite/peft.test.ts (CI needs no Python for it).

    python3 scripts/reference/make_adapter.py [public/models/tiny-a] [test-data/peft-tiny-a]

Values (exact in f32, bf16 and f16), for target index t in (q, k, v, o, gate, up, down) = 0..6 and
layer l:
    lora_A[i, j] = ((7 i + 3 j + 5 l + 11 t) mod 17 - 8) / 64     shape [r, in]
    lora_B[i, j] = ((5 i + 11 j + 3 l + 7 t) mod 13 - 6) / 128    shape [out, r]
r = 4, lora_alpha = 8, use_rslora true (scale alpha / sqrt(r) = 4). q, k, v, o are stored as F32,
gate and up as BF16, down as F16, so the reader's three dtypes are all exercised.

safetensors, from the format's description: u64 little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}} padded with spaces to a
multiple of 8, then the raw little-endian row-major data (offsets relative to its start).
"""
import json
import os
import struct
import sys

import numpy as np

TARGETS = [
    ("q", "self_attn.q_proj"),
    ("k", "self_attn.k_proj"),
    ("v", "self_attn.v_proj"),
    ("o", "self_attn.o_proj"),
    ("gate", "mlp.gate_proj"),
    ("up", "mlp.up_proj"),
    ("down", "mlp.down_proj"),
]
DTYPES = {"q": "F32", "k": "F32", "v": "F32", "o": "F32", "gate": "BF16", "up": "BF16", "down": "F16"}
R, ALPHA = 4, 8


def shapes(tc):
    """(out, in) of each projection, from the text config."""
    C, H, Hkv, I = tc["hidden_size"], tc["num_attention_heads"], tc["num_key_value_heads"], tc["intermediate_size"]
    D = C // H
    return {"q": (H * D, C), "k": (Hkv * D, C), "v": (Hkv * D, C), "o": (C, H * D), "gate": (I, C), "up": (I, C), "down": (C, I)}


def factor_a(t, l, inn):
    i, j = np.meshgrid(np.arange(R), np.arange(inn), indexing="ij")
    return (((7 * i + 3 * j + 5 * l + 11 * t) % 17 - 8) / 64).astype(np.float32)


def factor_b(t, l, out):
    i, j = np.meshgrid(np.arange(out), np.arange(R), indexing="ij")
    return (((5 * i + 11 * j + 3 * l + 7 * t) % 13 - 6) / 128).astype(np.float32)


def raw(a, dtype):
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    if dtype == "BF16":  # the top half of the f32 bits (the values are exact, so no rounding)
        return (a.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype, shape, bytes)."""
    header = {"__metadata__": metadata}
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for _, _, _, data in tensors:
            f.write(data)


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else "public/models/tiny-a"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "test-data/peft-tiny-a"
    with open(os.path.join(model, "config.json")) as f:
        tc = json.load(f)["text_config"]
    shp = shapes(tc)
    tensors = []
    for l in range(tc["num_hidden_layers"]):
        for t, (key, module) in enumerate(TARGETS):
            out, inn = shp[key]
            prefix = f"base_model.model.language_model.model.layers.{l}.{module}"
            for suffix, a in (("lora_A", factor_a(t, l, inn)), ("lora_B", factor_b(t, l, out))):
                tensors.append((f"{prefix}.{suffix}.weight", DTYPES[key], a.shape, raw(a, DTYPES[key])))
    tensors.sort(key=lambda x: x[0])
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), tensors, {"format": "pt"})
    config = {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": "fixtures/tiny-a",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_pattern": None,
        "layers_to_transform": None,
        "lora_alpha": ALPHA,
        "lora_dropout": 0.05,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": R,
        "rank_pattern": {},
        "revision": None,
        # PEFT keeps target_modules as a set, so the saved order is arbitrary.
        "target_modules": ["up_proj", "down_proj", "q_proj", "o_proj", "v_proj", "gate_proj", "k_proj"],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": True,
    }
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote {len(tensors)} tensors to {out_dir}")


if __name__ == "__main__":
    main()
