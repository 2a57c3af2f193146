"""Goldens for the GPU model code: runs the float32 reference (tinyllava_ref.py) on each fixture
checkpoint in public/models/<name>/ with the fixed frames (test-data/frames/) and prompt
(test-data/goldens/model/prompt.json), and writes test-data/goldens/model/<name>/:
  vision_features.f32   [F, P-1, Cv]  the feature layer's patch tokens, first token dropped
  connector_output.f32  [Q, C]        the group resampler's output (PE added)
  logits.f32            [9, V]        row 0: last prompt position; row k: after feeding greedy ids 0..k-1
  final_hidden.f32      [9, C]        the final-normed hidden state each logits row comes from
  index.json            shapes, sha256s, ids, greedy ids, top-1/top-2 margins, fixture file hashes
All .f32 files are raw little-endian float32, row-major. Run through `npm run goldens`.
Usage: /usr/bin/python3 scripts/reference/make_goldens.py [fixture ...]"""
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
# The tokenizer files of either layout (tokenizer.json, or the slow set the hub repos hold): not the
# generator's output, so not part of the fixture's hashes.
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                   "added_tokens.json", "special_tokens_map.json"}
DECODE_STEPS = 8


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def load_frames(path, frames, size):
    """u8 [F, 3, S, S] -> float32 input: (v / 255 - 0.5) / 0.5, each step in float32."""
    u8 = np.fromfile(path, dtype=np.uint8)
    assert u8.size == frames * 3 * size * size, f"{path}: {u8.size} bytes"
    x = u8.astype(np.float32) / np.float32(255)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return torch.from_numpy(x.reshape(frames, 3, size, size))


def write_f32(folder, name, t):
    arr = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
    data = arr.tobytes()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)
    return {"file": name, "dtype": "f32", "shape": list(arr.shape), "sha256": sha256(data)}


def run_fixture(name, prompt):
    model_dir = os.path.join(ROOT, "public", "models", name)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(model_dir, "fixture.json")) as f:
        stamp = json.load(f)
    vc, tc = cfg["vision_config"], cfg["text_config"]
    frames = stamp["spec"]["goldenFrames"]
    size = vc["image_size"]
    frames_rel = f"test-data/frames/pattern-{frames}x{size}.u8"

    w = ref.Weights(read_checkpoint(model_dir))
    pixels = load_frames(os.path.join(ROOT, frames_rel), frames, size)
    with torch.no_grad():
        feats = ref.vision_features(pixels, w, cfg)  # [F, P-1, Cv]
        visual = ref.connector(feats, w, cfg)  # [Q, C]
        prompt_embeds = ref.splice(prompt["part0Ids"], visual, prompt["part1Ids"], w,
                                   cfg["tokenizer_model_max_length"])
        head = ref.lm_head_weight(w, tc)
        ids, logits_rows, hidden_rows, margins = [], [], [], []
        # Greedy decoding by full recompute (no KV cache): an independent check of the GPU's cache.
        for step in range(DECODE_STEPS + 1):
            seq = prompt_embeds if not ids else torch.cat([prompt_embeds, ref.embed_ids(ids, w)], dim=0)
            hidden = ref.qwen2_final_hidden(seq, w, tc)[-1]
            logits = head @ hidden
            top2 = torch.topk(logits, 2).values
            ids.append(int(torch.argmax(logits)))
            margins.append(float(top2[0] - top2[1]))
            logits_rows.append(logits)
            hidden_rows.append(hidden)

    unused_read = sorted(k for k in w.t if k not in w.read)
    out_dir = os.path.join(ROOT, "test-data", "goldens", "model", name)
    os.makedirs(out_dir, exist_ok=True)
    tensors = {
        "visionFeatures": write_f32(out_dir, "vision_features.f32", feats),
        "connectorOutput": write_f32(out_dir, "connector_output.f32", visual),
        "logits": write_f32(out_dir, "logits.f32", torch.stack(logits_rows)),
        "finalHidden": write_f32(out_dir, "final_hidden.f32", torch.stack(hidden_rows)),
    }
    with open(os.path.join(ROOT, frames_rel), "rb") as f:
        frames_sha = sha256(f.read())
    index = {
        "fixture": name,
        "generatorVersion": stamp["generatorVersion"],
        "fixtureFiles": {f: m["sha256"] for f, m in stamp["files"].items() if f not in TOKENIZER_FILES},
        "frames": {
            "file": frames_rel,
            "shape": [frames, 3, size, size],
            "encoding": "u8; model input x = (v / 255 - 0.5) / 0.5 computed in float32",
            "sha256": frames_sha,
        },
        "prompt": {"file": "test-data/goldens/model/prompt.json", "part0Ids": prompt["part0Ids"],
                   "part1Ids": prompt["part1Ids"]},
        "sequence": {
            "promptLength": int(prompt_embeds.shape[0]),
            "visualStart": len(prompt["part0Ids"]),
            "visualTokens": int(visual.shape[0]),
        },
        "decode": {
            "steps": DECODE_STEPS,
            "rule": "logits row 0 = last prompt position; row k = after appending greedyIds[0..k-1]; "
                    "greedyIds[k] = argmax(row k); full recompute; no stop at eos",
            "greedyIds": ids,
            "margins": margins,
        },
        "tensors": tensors,
        "checkpointTensorsNotRead": unused_read,
        "reference": {"torch": torch.__version__, "numpy": np.__version__,
                      "math": "float32 throughout, weights decoded from bf16"},
    }
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    distinct = len(set(ids))
    print(f"goldens: {name}: L={index['sequence']['promptLength']} greedy={ids} ({distinct} distinct) "
          f"min margin {min(margins):.4f} -> {out_dir}")


def main(argv):
    torch.set_num_threads(2)
    with open(os.path.join(ROOT, "test-data", "goldens", "model", "prompt.json")) as f:
        prompt = json.load(f)
    names = argv or sorted(d for d in os.listdir(os.path.join(ROOT, "public", "models"))
                           if os.path.exists(os.path.join(ROOT, "public", "models", d, "fixture.json")))
    for name in names:
        run_fixture(name, prompt)


if __name__ == "__main__":
    main(sys.argv[1:])
