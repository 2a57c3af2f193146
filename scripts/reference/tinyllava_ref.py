"""Independent float32 reference of TinyLLaVA-Video (R1) in plain PyTorch 1.13, written from the
upstream semantics (HF SiglipVisionModel, TinyLLaVA-Video's groupresampler connector, HF
Qwen2ForCausalLM, TinyLlavaForConditionalGeneration's prompt splicing) and MODEL.md — not from
this project's TypeScript. Weights arrive as float32 arrays decoded from the bf16 checkpoint.

Shape letters: F frames, P patches, C width, H heads, D head dim, L sequence, V vocab."""
import math

import torch
import torch.nn.functional as Fn

VISION = "vision_tower._vision_tower.vision_model."
CONNECTOR = "connector._connector."
TEXT = "language_model."


class Weights:
    def __init__(self, arrays):
        self.t = {k: torch.from_numpy(v) for k, v in arrays.items()}
        self.read = set()

    def __call__(self, name):
        self.read.add(name)
        return self.t[name]

    def has(self, name):
        return name in self.t


def layer_norm(x, w, prefix, eps):
    return Fn.layer_norm(x, (x.shape[-1],), w(prefix + ".weight"), w(prefix + ".bias"), eps)


def linear(x, w, prefix, bias=True):
    return Fn.linear(x, w(prefix + ".weight"), w(prefix + ".bias") if bias else None)


# ---------------- SigLIP vision tower (HF SiglipVisionModel) ----------------


def siglip_hidden_states(pixels, w, vc):
    """pixels [F, 3, S, S] -> list of N+1 hidden states [F, P, C] (embeddings, then each layer)."""
    p = vc["patch_size"]
    x = Fn.conv2d(pixels, w(VISION + "embeddings.patch_embedding.weight"),
                  w(VISION + "embeddings.patch_embedding.bias"), stride=p)  # [F, C, g, g]
    x = x.flatten(2).transpose(1, 2)  # [F, P, C], row-major over the patch grid
    x = x + w(VISION + "embeddings.position_embedding.weight")[None]
    states = [x]
    heads = vc["num_attention_heads"]
    eps = vc["layer_norm_eps"]
    for i in range(vc["num_hidden_layers"]):
        l = VISION + f"encoder.layers.{i}."
        h = layer_norm(x, w, l + "layer_norm1", eps)
        x = x + siglip_attention(h, w, l + "self_attn.", heads)
        h = layer_norm(x, w, l + "layer_norm2", eps)
        h = linear(h, w, l + "mlp.fc1")
        h = Fn.gelu(h, approximate="tanh")  # gelu_pytorch_tanh
        x = x + linear(h, w, l + "mlp.fc2")
        states.append(x)
    return states


def siglip_attention(h, w, prefix, heads):
    F_, P, C = h.shape
    D = C // heads
    q = linear(h, w, prefix + "q_proj").view(F_, P, heads, D).transpose(1, 2)
    k = linear(h, w, prefix + "k_proj").view(F_, P, heads, D).transpose(1, 2)
    v = linear(h, w, prefix + "v_proj").view(F_, P, heads, D).transpose(1, 2)
    a = torch.softmax((q @ k.transpose(-1, -2)) * D ** -0.5, dim=-1)  # bidirectional
    o = (a @ v).transpose(1, 2).reshape(F_, P, C)
    return linear(o, w, prefix + "out_proj")


def vision_features(pixels, w, cfg):
    vc = cfg["vision_config"]
    states = siglip_hidden_states(pixels, w, vc)
    x = states[cfg.get("vision_feature_layer", -2)]
    if cfg.get("vision_feature_select_strategy", "patch") == "patch":
        x = x[:, 1:]  # upstream quirk: drops the first patch token (SigLIP has no CLS)
    return x


# ---------------- group resampler connector (TinyLLaVA-Video) ----------------


def perceiver_attention(media, latents, w, prefix, heads=8, dim_head=64):
    """media [n1, C], latents [n2, C] -> [n2, C] (before the residual)."""
    media = layer_norm(media, w, prefix + "norm_media", 1e-5)
    latents = layer_norm(latents, w, prefix + "norm_latents", 1e-5)
    q = Fn.linear(latents, w(prefix + "to_q.weight"))
    kv = Fn.linear(torch.cat([media, latents], dim=0), w(prefix + "to_kv.weight"))
    k, v = kv.chunk(2, dim=-1)

    def split(t):  # [n, h*d] -> [h, n, d]
        return t.view(t.shape[0], heads, dim_head).transpose(0, 1)

    q, k, v = split(q) * dim_head ** -0.5, split(k), split(v)
    sim = q @ k.transpose(-1, -2)
    sim = sim - sim.amax(dim=-1, keepdim=True)
    out = torch.softmax(sim, dim=-1) @ v  # [h, n2, d]
    out = out.transpose(0, 1).reshape(latents.shape[0], heads * dim_head)
    return Fn.linear(out, w(prefix + "to_out.weight"))


def feed_forward(x, w, prefix):
    h = layer_norm(x, w, prefix + "0", 1e-5)
    h = Fn.linear(h, w(prefix + "1.weight"))
    h = Fn.gelu(h)  # nn.GELU(): exact erf form
    return Fn.linear(h, w(prefix + "3.weight"))


def positional_encoding(n, d):
    """Sinusoidal PE as upstream builds it: f32 math stored into a float16 tensor."""
    pe = torch.zeros(n, d, dtype=torch.float16)
    position = torch.arange(0, n).unsqueeze(1).float()
    div_term = torch.exp(torch.arange(0, d, 2).float() * -(math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe.float()


def connector(features, w, cfg):
    """features [F, P, Cv] -> [num_queries, C]."""
    x = features.reshape(-1, features.shape[-1])  # all frames' tokens in order
    x = linear(x, w, CONNECTOR + "linear")  # [T, C]
    group = cfg["group"]
    T = x.shape[0]
    base, rem = T // group, T % group
    sizes = [base + 1] * rem + [base] * (group - rem)
    chunks = torch.split(x, sizes, dim=0)
    outs = []
    for chunk in chunks:
        lat = w(CONNECTOR + "latents").clone()  # fresh latents per chunk
        for i in range(cfg["num_resampler_layers"]):
            lat = perceiver_attention(chunk, lat, w, CONNECTOR + f"layers.{i}.0.") + lat
            lat = feed_forward(lat, w, CONNECTOR + f"layers.{i}.1.") + lat
        outs.append(layer_norm(lat, w, CONNECTOR + "norm", 1e-5))
    out = torch.cat(outs, dim=0)
    return out + positional_encoding(out.shape[0], out.shape[1])


# ---------------- Qwen2 language model (HF Qwen2ForCausalLM) ----------------


def rms_norm(x, weight, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat([-x[..., d:], x[..., :d]], dim=-1)


def qwen2_final_hidden(embeds, w, tc):
    """embeds [L, C] -> final-normed hidden states [L, C] (causal, positions 0..L-1)."""
    L, C = embeds.shape
    H, KV = tc["num_attention_heads"], tc["num_key_value_heads"]
    D = C // H
    eps = tc.get("rms_norm_eps", 1e-6)
    theta = tc.get("rope_theta", 10000.0)
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2).float() / D))
    freqs = torch.arange(L).float()[:, None] * inv_freq[None]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos()[None], emb.sin()[None]  # [1, L, D]
    mask = torch.full((L, L), float("-inf")).triu(1)
    x = embeds
    for i in range(tc["num_hidden_layers"]):
        l = TEXT + f"model.layers.{i}."
        h = rms_norm(x, w(l + "input_layernorm.weight"), eps)
        q = linear(h, w, l + "self_attn.q_proj").view(L, H, D).transpose(0, 1)
        k = linear(h, w, l + "self_attn.k_proj").view(L, KV, D).transpose(0, 1)
        v = linear(h, w, l + "self_attn.v_proj").view(L, KV, D).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=0)  # GQA: query head j reads kv head j // (H/KV)
        v = v.repeat_interleave(H // KV, dim=0)
        a = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(D) + mask, dim=-1)
        o = (a @ v).transpose(0, 1).reshape(L, H * D)
        x = x + Fn.linear(o, w(l + "self_attn.o_proj.weight"))
        h = rms_norm(x, w(l + "post_attention_layernorm.weight"), eps)
        g = Fn.linear(h, w(l + "mlp.gate_proj.weight"))
        u = Fn.linear(h, w(l + "mlp.up_proj.weight"))
        x = x + Fn.linear(Fn.silu(g) * u, w(l + "mlp.down_proj.weight"))
    return rms_norm(x, w(TEXT + "model.norm.weight"), eps)


def lm_head_weight(w, tc):
    if tc.get("tie_word_embeddings", False):
        return w(TEXT + "model.embed_tokens.weight")
    return w(TEXT + "lm_head.weight")


def embed_ids(ids, w):
    return w(TEXT + "model.embed_tokens.weight")[torch.tensor(ids, dtype=torch.long)]


def splice(part0_ids, visual, part1_ids, w, max_len):
    """text part 0, the connector's tokens, text part 1; cut to tokenizer_model_max_length."""
    seq = torch.cat([embed_ids(part0_ids, w), visual, embed_ids(part1_ids, w)], dim=0)
    return seq[:max_len]
