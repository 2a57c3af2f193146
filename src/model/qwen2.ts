import type { GpuContext } from '../gpu/context';
import { siluMulHalves } from '../gpu/kernels/activations';
import { axpy } from '../gpu/kernels/add';
import {
  attentionDecode,
  createKvCache,
  type KvCache,
  releaseKvCache,
} from '../gpu/kernels/attention/kv-cache';
import { cast } from '../gpu/kernels/cast';
import { embedding } from '../gpu/kernels/embedding';
import { embeddingQ4 } from '../gpu/kernels/embedding-q4';
import { matmul } from '../gpu/kernels/matmul/matmul';
import { qkvRopeWrite } from '../gpu/kernels/qkv-rope';
import { rmsnorm } from '../gpu/kernels/rmsnorm';
import { Tensor } from '../gpu/tensor';
import type { TextConfig } from './config';
import { isQuantized, type WeightScope } from './gpu-weights';
import { normProject, projectAdd, projectParts, sliceRows } from './layers';

/** x widened to the residual stream's f32 (x itself when already f32). */
export function toStream(ctx: GpuContext, x: Tensor): Tensor {
  return x.dtype === 'f32' ? x : cast(ctx, x, 'f32');
}

/** One low-rank pair of a fused projection: y += s·(h·Aᵀ)·Bᵀ, A [r, in], B [out, r] in the fused rows' order. */
export interface DecoderLoraPair {
  A: Tensor;
  B: Tensor;
}

/**
 * An adapter the decoder applies unmerged (over a 4-bit base, where merging it would mean re-quantizing
 * and rounding small changes away). q/k/v and gate/up are the fused projections' pairs.
 */
export interface DecoderAdapter {
  scale: number;
  layers: Partial<Record<'qkv' | 'o' | 'gateUp' | 'down', DecoderLoraPair>>[];
}

/** Row T−1 of each of B blocks of T rows: [B·T, C] → [B, C]. */
function lastRows(ctx: GpuContext, x: Tensor, B: number, T: number): Tensor {
  if (B === 1) return sliceRows(ctx, x, T - 1, T);
  const row = x.byteLength / x.shape[0];
  const out = ctx.empty([B, ...x.shape.slice(1)], x.dtype);
  for (let b = 0; b < B; b++) ctx.copyRegion(x, (b * T + T - 1) * row, out, b * row, row);
  return out;
}

/**
 * Qwen2 decoder (HF Qwen2ForCausalLM) over a KV cache. Letters: B sequences, T new tokens, C hidden,
 * H query heads, Hkv kv heads, D head dim, I MLP width, V vocab.
 * Batched decode (GRPO rollouts): a prompt is prefilled once as sequence 0, `fork(B)` copies its cache
 * to B sequences, and each step then takes B tokens. The sequences move in lockstep (all at the same
 * position), so positions and lengths stay plain numbers; a finished rollout keeps stepping on padding.
 */
export class Qwen2 {
  /** Per layer, caches for `capacity` sequences; the first `batch` of them are in use. */
  private caches: KvCache[];
  private capacity = 1;
  /** Sequences stepped together. */
  batch = 1;
  /** Positions already in the cache (the same for every sequence). */
  length = 0;
  /** Applied on top of the weights when set (its owner keeps the tensors alive while it is). */
  adapter: DecoderAdapter | null = null;

  constructor(
    private readonly ctx: GpuContext,
    private readonly w: WeightScope, // 'language_model.'
    readonly cfg: TextConfig,
    readonly maxLength: number,
  ) {
    this.caches = this.allocate(1);
  }

  private allocate(B: number): KvCache[] {
    const { layers, kvHeads: Hkv, headDim: D } = this.cfg;
    // Long-lived: kept, so a fork recorded inside a caller's scope does not free them at its end.
    const make = () => createKvCache(this.ctx, { B, Smax: this.maxLength, Hkv, D });
    return Array.from({ length: layers }, () => this.ctx.keep(make()));
  }

  /** GPU bytes held by the KV caches. */
  get cacheBytes(): number {
    return this.caches.reduce((n, c) => n + c.k.byteLength + c.v.byteLength, 0);
  }

  /** Layer l's cache for the sequences in use: the leading `batch` sequences of the buffers (a view). */
  cache(l: number): KvCache {
    const c = this.caches[l];
    if (this.batch === c.B) return c;
    const shape = [this.batch, c.Smax, c.Hkv, c.D];
    const view = (t: Tensor) => new Tensor(t.buffer, shape, t.dtype);
    return { ...c, B: this.batch, k: view(c.k), v: view(c.v) };
  }

  /**
   * Continues sequence 0 as B sequences: its cache rows are copied to sequences 1…B−1 (the buffers
   * grow when B exceeds what they hold). Steps then take B tokens, one per sequence.
   */
  fork(B: number): void {
    if (!Number.isInteger(B) || B < 1) throw new Error(`fork: batch ${B}`);
    const { ctx } = this;
    const rows = (c: KvCache) => this.length * c.Hkv * c.D * (c.k.byteLength / c.k.size);
    if (B > this.capacity) {
      const next = this.allocate(B);
      for (const [l, old] of this.caches.entries()) {
        for (let b = 0; b < B; b++) {
          ctx.copyRegion(old.k, 0, next[l].k, b * (old.k.byteLength / old.B), rows(old));
          ctx.copyRegion(old.v, 0, next[l].v, b * (old.v.byteLength / old.B), rows(old));
        }
        releaseKvCache(ctx, old);
      }
      this.caches = next;
      this.capacity = B;
    } else if (this.length > 0 && B > 1) {
      // A buffer cannot be copied onto itself: go through a scratch copy of sequence 0.
      for (const c of this.caches) {
        const seq = c.k.byteLength / c.B;
        const n = rows(c);
        for (const t of [c.k, c.v]) {
          ctx.tidy(() => {
            const tmp = ctx.empty([n / 4], 'u32');
            ctx.copyRegion(t, 0, tmp, 0, n);
            for (let b = 1; b < B; b++) ctx.copyRegion(tmp, 0, t, b * seq, n);
          });
        }
      }
    }
    this.batch = B;
  }

  /** Token ids → embeddings [T, C] f32, as the residual stream holds them (a 4-bit table dequantizes to f32). */
  embed(ids: Tensor): Tensor {
    const parts = this.w.table('model.embed_tokens.weight');
    if (parts.every(isQuantized)) return embeddingQ4(this.ctx, ids, parts, 'f32');
    if (parts.some(isQuantized)) throw new Error('embed: mixed plain and 4-bit table parts');
    return this.ctx.tidy(() => toStream(this.ctx, embedding(this.ctx, ids, parts as Tensor[])));
  }

  /**
   * Runs T new positions of each of the `batch` sequences through every layer, appending to the cache.
   * x [B·T, C] (sequence-major): the input embeddings. The residual stream is f32 on every path (Qwen2's
   * massive activations pass f16's 65504; projections' other activations stay in the activation dtype):
   * an f32 x is the stream itself, updated in place; an f16 x is widened into a new one. Returns the
   * stream: the last layer's output (the final norm is applied by logitsOfLast, fused into lm_head, on
   * the rows that need it).
   */
  forward(x: Tensor): Tensor {
    const T = x.shape[0] / this.batch;
    if (!Number.isInteger(T)) throw new Error(`forward: ${x.shape[0]} rows for ${this.batch} sequences`);
    if (this.length + T > this.maxLength)
      throw new Error(`context full: ${this.length} + ${T} > ${this.maxLength}`);
    const h = toStream(this.ctx, x); // [B·T, C] f32
    for (let l = 0; l < this.cfg.layers; l++) this.layer(l, h);
    this.length += T;
    return h;
  }

  /**
   * Logits [B, V] (activation dtype) of each sequence's last row of hidden [B·T, C] (forward's f32
   * output), final norm included.
   */
  logitsOfLast(hidden: Tensor): Tensor {
    const B = this.batch;
    const T = hidden.shape[0] / B;
    const head = this.cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    const norm = { weight: this.w.get('model.norm.weight'), eps: this.cfg.eps };
    return this.ctx.tidy(() => {
      const last = T === 1 ? hidden : lastRows(this.ctx, hidden, B, T); // [B, C]
      return projectParts(this.ctx, last, this.w.table(head), norm);
    });
  }

  /** Decoder layer l on the f32 residual stream x [B·T, C], in place: x += attention block; x += MLP block. */
  private layer(l: number, x: Tensor): void {
    const { ctx, cfg } = this;
    const w = this.w.scope(`model.layers.${l}.`);
    const B = this.batch;
    const BT = x.shape[0];
    const T = BT / B;
    const { heads: H, kvHeads: Hkv, headDim: D } = cfg;
    const norm = (name: string) => ({ weight: w.get(name), eps: cfg.eps });
    const cache = this.cache(l);
    const ad = this.adapter?.layers[l] ?? {};
    const s = this.adapter?.scale ?? 0;
    // y += s·(h·Aᵀ)·Bᵀ; h of a normed projection is the norm's output (the fused kernels keep it inside).
    const lora = (y: Tensor, h: Tensor, p: DecoderLoraPair | undefined) => {
      if (p) axpy(ctx, y, matmul(ctx, matmul(ctx, h, p.A, null), p.B, null), s);
    };
    const normed = (n: { weight: Tensor; eps: number }) =>
      rmsnorm(ctx, x, n.weight, n.eps, ctx.variant, ctx.actDtype as 'f32' | 'f16');
    // x += o_proj(attention(rope(q), cache)), with [q; k; v] = qkv_proj(input_layernorm(x)) and
    // rope(k), v appended to the cache.
    ctx.tidy(() => {
      const qkvW = w.linear('self_attn.qkv_proj.weight');
      const n1 = norm('input_layernorm.weight');
      const qkv = normProject(ctx, x, n1, qkvW, w.get('self_attn.qkv_proj.bias'));
      if (ad.qkv) lora(qkv, normed(n1), ad.qkv);
      const q = qkvRopeWrite(ctx, qkv.view([B, T, (H + 2 * Hkv) * D]), cache, this.length, cfg.ropeTheta, H);
      // Split-K over the cache when B·heads alone would leave the GPU idle (one token, few kv heads).
      const scale = 1 / Math.sqrt(D);
      const a = attentionDecode(ctx, q, cache.k, cache.v, this.length + T, scale, { splits: 'auto' }); // [B, T, H, D]
      projectAdd(ctx, x, a.view([BT, H * D]), w.linear('self_attn.o_proj.weight'));
      lora(x, a.view([BT, H * D]), ad.o);
    });
    // x += down_proj(silu(gate)·up), with [gate; up] = gate_up_proj(post_attention_layernorm(x)).
    ctx.tidy(() => {
      const gateUp = w.linear('mlp.gate_up_proj.weight');
      const n2 = norm('post_attention_layernorm.weight');
      let act: Tensor; // [B·T, I]
      if (ad.gateUp) {
        const gu = normProject(ctx, x, n2, gateUp, null);
        lora(gu, normed(n2), ad.gateUp);
        act = siluMulHalves(ctx, gu);
      } else act = normProject(ctx, x, n2, gateUp, null, 'siluMulHalves');
      projectAdd(ctx, x, act, w.linear('mlp.down_proj.weight'));
      lora(x, act, ad.down);
    });
  }

  /** Forget the sequences (the cache memory is kept for the next ones). */
  reset(): void {
    this.length = 0;
    this.batch = 1;
  }

  destroy(): void {
    for (const c of this.caches) releaseKvCache(this.ctx, c);
  }
}
