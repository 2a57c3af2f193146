import type { GpuContext } from '../gpu/context';
import { siluMul } from '../gpu/kernels/activations';
import { embedding } from '../gpu/kernels/embedding';
import {
  attentionDecode,
  createKvCache,
  type KvCache,
  kvWrite,
  releaseKvCache,
} from '../gpu/kernels/kv-cache';
import { rmsnorm } from '../gpu/kernels/rmsnorm';
import { rope } from '../gpu/kernels/rope';
import type { Tensor } from '../gpu/tensor';
import type { TextConfig } from './config';
import type { WeightScope } from './gpu-weights';
import { addAndRelease, linear, project, sliceRows } from './layers';

/**
 * Qwen2 decoder (HF Qwen2ForCausalLM) over a KV cache. Letters: T new tokens, C hidden, H query heads,
 * Hkv kv heads, D head dim, V vocab. One sequence (B = 1) for now; the cache layout is [B, S, Hkv, D]
 * so batched rollouts can come without changing the kernels.
 */
export class Qwen2 {
  readonly caches: KvCache[];
  /** Positions already in the cache. */
  length = 0;

  constructor(
    private readonly ctx: GpuContext,
    private readonly w: WeightScope, // 'language_model.'
    readonly cfg: TextConfig,
    readonly maxLength: number,
  ) {
    const { layers, kvHeads: Hkv, headDim: D } = cfg;
    this.caches = Array.from({ length: layers }, () => createKvCache(ctx, { B: 1, Smax: maxLength, Hkv, D }));
  }

  /** Token ids → embeddings [T, C]. */
  embed(ids: Tensor): Tensor {
    return embedding(this.ctx, ids, this.w.get('model.embed_tokens.weight'));
  }

  /** Runs T new positions through every layer, appending to the cache; returns the final-normed hidden [T, C]. */
  forward(x: Tensor): Tensor {
    const { ctx, cfg } = this;
    const T = x.shape[0];
    if (this.length + T > this.maxLength)
      throw new Error(`context full: ${this.length} + ${T} > ${this.maxLength}`);
    const positions = ctx.upload(
      Uint32Array.from({ length: T }, (_, i) => this.length + i),
      [T],
      'u32',
    );
    for (let l = 0; l < cfg.layers; l++) x = this.layer(l, x, positions);
    ctx.release(positions);
    this.length += T;
    const out = rmsnorm(ctx, x, this.w.get('model.norm.weight'), cfg.eps);
    ctx.release(x);
    return out;
  }

  /** Logits [1, V] of the last row of hidden [T, C]. */
  logitsOfLast(hidden: Tensor): Tensor {
    const T = hidden.shape[0];
    const last = T === 1 ? hidden : sliceRows(this.ctx, hidden, T - 1, T);
    const head = this.cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    const logits = project(this.ctx, last, this.w.linear(head), null);
    if (last !== hidden) this.ctx.release(last);
    return logits;
  }

  private layer(l: number, x: Tensor, positions: Tensor): Tensor {
    const { ctx, cfg } = this;
    const w = this.w.scope(`model.layers.${l}.`);
    const T = x.shape[0];
    const { heads: H, kvHeads: Hkv, headDim: D } = cfg;
    let h = rmsnorm(ctx, x, w.get('input_layernorm.weight'), cfg.eps);
    const q0 = linear(ctx, h, w, 'self_attn.q_proj').view([T, H, D]);
    const k0 = linear(ctx, h, w, 'self_attn.k_proj').view([T, Hkv, D]);
    const v = linear(ctx, h, w, 'self_attn.v_proj').view([1, T, Hkv, D]);
    ctx.release(h);
    const q = rope(ctx, q0, positions, cfg.ropeTheta);
    const k = rope(ctx, k0, positions, cfg.ropeTheta).view([1, T, Hkv, D]);
    ctx.release(q0, k0);
    const cache = this.caches[l];
    kvWrite(ctx, cache, k, v, this.length);
    ctx.release(k, v);
    const a = attentionDecode(
      ctx,
      q.view([1, T, H, D]),
      cache.k,
      cache.v,
      this.length + T,
      1 / Math.sqrt(D),
      { splits: 1 },
    );
    ctx.release(q);
    const o = linear(ctx, a.view([T, H * D]), w, 'self_attn.o_proj', false);
    ctx.release(a);
    x = addAndRelease(ctx, x, o);

    h = rmsnorm(ctx, x, w.get('post_attention_layernorm.weight'), cfg.eps);
    const gate = linear(ctx, h, w, 'mlp.gate_proj', false);
    const up = linear(ctx, h, w, 'mlp.up_proj', false);
    ctx.release(h);
    const act = siluMul(ctx, gate, up);
    ctx.release(gate, up);
    const down = linear(ctx, act, w, 'mlp.down_proj', false);
    ctx.release(act);
    return addAndRelease(ctx, x, down);
  }

  /** Forget the sequence (the cache memory is kept for the next one). */
  reset(): void {
    this.length = 0;
  }

  destroy(): void {
    for (const c of this.caches) releaseKvCache(this.ctx, c);
  }
}
