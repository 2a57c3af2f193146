"""Goldens for the f16-overflow fixture: tiny-a (public/models/tiny-a, from `npm run fixtures`) with a
few weights overwritten so that one channel of the decoder's residual stream grows past f16's 65504,
as Qwen2's "massive activations" do, then run text-only through the float32 reference
(tinyllava_ref.py). Writes test-data/goldens/model/tiny-a-overflow/ (small: sampled logits only):
  logits.f32   [R, V / STRIDE]  logits of ids 0, STRIDE, 2·STRIDE, ... per row
  index.json   the edits (the test applies the same ones to the checkpoint bytes), prompt ids, greedy
               ids, each row's top ids and logits, the residual stream's peak |value|, hashes
Row 0: last prompt position; row k: after appending greedyIds[0..k-1] (full recompute, no cache).

How the channel grows: in layer 0, v_proj's bias puts 1000 in dimension 0 of kv head 0 (its weight row
zeroed, so v = 1000 exactly at every position); attention averages v, so query heads 0 and 1 output
1000 there at every position; o_proj's columns for those two heads are 0 except 60 in row CH at the
two dimensions, so every position gets 2 · 1000 · 60 = 120000 added to channel CH (heads 2 and 3 work
as before). Layer 1 does the same with −60, taking
the channel back down, so the final norm and the logits stay informative. Every value is exact in
bf16, f16, and in the engine's 4-bit format (asymmetric groups of 32: 60 / 15 = 4).
Usage: /usr/bin/python3 scripts/reference/make_overflow_goldens.py"""
import hashlib
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinyllava_ref as ref  # noqa: E402
from st_numpy import read_checkpoint  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURE = "tiny-a"
NAME = "tiny-a-overflow"
DECODE_STEPS = 3
STRIDE = 61
TOP = 16
CH = 5  # the channel that grows
BIAS = 1000.0
GAIN = 60.0


def layer_edits(layer, gain):
    """Edits as rectangles [rows, cols] of the tensor seen as [numel / last dim, last dim]."""
    l = f"language_model.model.layers.{layer}.self_attn."
    edits = [
        {"tensor": l + "v_proj.bias", "rows": [0, 1], "cols": [0, 1], "value": BIAS},
        {"tensor": l + "v_proj.weight", "rows": [0, 1], "cols": [0, 64], "value": 0.0},
    ]
    # Query heads 0 and 1 (head dim 16) read kv head 0: o_proj input columns 0-31. They are zeroed
    # (every row's first 4-bit group is then exactly zero, so quantization leaves no 1000-fold error
    # behind), except the two that carry the 1000s into row CH.
    edits.append({"tensor": l + "o_proj.weight", "rows": [0, 64], "cols": [0, 32], "value": 0.0})
    for col in (0, 16):
        edits.append({"tensor": l + "o_proj.weight", "rows": [CH, CH + 1], "cols": [col, col + 1], "value": gain})
    return edits


EDITS = layer_edits(0, GAIN) + layer_edits(1, -GAIN)


def apply_edits(arrays, edits):
    for e in edits:
        t = arrays[e["tensor"]]
        v = t.reshape(-1, t.shape[-1])
        (r0, r1), (c0, c1) = e["rows"], e["cols"]
        v[r0:r1, c0:c1] = np.float32(e["value"])


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def main():
    torch.set_num_threads(2)
    model_dir = os.path.join(ROOT, "public", "models", FIXTURE)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(model_dir, "fixture.json")) as f:
        stamp = json.load(f)
    with open(os.path.join(ROOT, "test-data", "goldens", "model", "prompt.json")) as f:
        prompt = json.load(f)
    tc = cfg["text_config"]
    assert tc["hidden_size"] == 64 and tc["num_attention_heads"] == 4 and tc["num_key_value_heads"] == 2

    arrays = read_checkpoint(model_dir)
    apply_edits(arrays, EDITS)
    w = ref.Weights(arrays)

    # The residual stream is what every RMSNorm reads: record its peak |value|.
    peak = [0.0]
    rms_norm = ref.rms_norm

    def spy(x, weight, eps):
        peak[0] = max(peak[0], float(x.abs().max()))
        return rms_norm(x, weight, eps)

    ref.rms_norm = spy
    ids = list(prompt["part0Ids"])
    head = ref.lm_head_weight(w, tc)
    greedy, rows, tops, margins = [], [], [], []
    with torch.no_grad():
        for _ in range(DECODE_STEPS + 1):
            hidden = ref.qwen2_final_hidden(ref.embed_ids(ids + greedy, w), w, tc)[-1]
            logits = head @ hidden
            top = torch.topk(logits, TOP)
            tops.append({"ids": [int(i) for i in top.indices], "logits": [float(v) for v in top.values]})
            margins.append(float(top.values[0] - top.values[1]))
            greedy.append(int(top.indices[0]))
            rows.append(logits[::STRIDE])
    ref.rms_norm = rms_norm

    out_dir = os.path.join(ROOT, "test-data", "goldens", "model", NAME)
    os.makedirs(out_dir, exist_ok=True)
    arr = np.ascontiguousarray(torch.stack(rows).numpy().astype("<f4"))
    with open(os.path.join(out_dir, "logits.f32"), "wb") as f:
        f.write(arr.tobytes())
    index = {
        "fixture": FIXTURE,
        "generatorVersion": stamp["generatorVersion"],
        "fixtureFiles": {k: m["sha256"] for k, m in stamp["files"].items() if k.endswith(".safetensors")},
        "edits": EDITS,
        "channel": CH,
        "residualPeak": peak[0],
        "promptIds": ids,
        "decode": {
            "steps": DECODE_STEPS,
            "rule": "row 0 = last prompt position; row k = after appending greedyIds[0..k-1]; full recompute",
            "greedyIds": greedy,
            "margins": margins,
            "top": tops,
        },
        "logits": {"file": "logits.f32", "dtype": "f32", "shape": list(arr.shape), "stride": STRIDE,
                   "sha256": sha256(arr.tobytes())},
        "reference": {"torch": torch.__version__, "numpy": np.__version__,
                      "math": "float32 throughout, weights decoded from bf16"},
    }
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    print(f"goldens: {NAME}: residual peak {peak[0]:.1f}, greedy {greedy}, margins "
          f"{[round(m, 3) for m in margins]} -> {out_dir}")


if __name__ == "__main__":
    main()
