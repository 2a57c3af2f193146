/**
 * The language model as the trainer runs it: whole sequences (no KV cache), LoRA applied on the fly,
 * and the backward pass of the token log-probs. Letters: T positions, C hidden, H query heads, Hkv kv
 * heads, D head dim, I MLP width, V vocabulary, r LoRA rank, n completion tokens.
 *
 * Gradient checkpointing: the forward keeps only each layer's input; the backward runs the layers in
 * reverse, recomputing one layer's activations at a time, so memory grows with one layer, not all.
 * Activations stay in the model's dtype; gradients flow in f32 (dW of the adapters too).
 *
 * With an adapter the base weights are frozen. The loader fuses q/k/v and gate/up for inference; the
 * policy keeps its own split copies of every projection and q/k/v bias (plain weights only: a 4-bit
 * base needs a transposed 4-bit kernel for dX, which does not exist yet), so an adapter can be merged
 * into the inference model's weights for rollouts (mergeInto) while the base here stays as loaded.
 *
 * Full fine-tuning (small models): trainAll() gives every weight an f32 gradient — projections,
 * biases, norms, the embedding table and lm_head (tied: one table, both gradients add) — and the
 * backward adds to them; the weights must be f32. The norms and the table are the inference model's
 * own tensors; the projections and biases reach it through mergeInto(model, null).
 */
import type { GpuContext } from '../gpu/context';
import { siluMul, siluMulBackward } from '../gpu/kernels/activations';
import { add, axpy } from '../gpu/kernels/add';
import { attention, attentionBackward } from '../gpu/kernels/attention/attention';
import { copy } from '../gpu/kernels/copy';
import { embedding, embeddingBackward } from '../gpu/kernels/embedding';
import { logprobs, logprobsBackward } from '../gpu/kernels/logprobs';
import { matmul } from '../gpu/kernels/matmul/matmul';
import {
  matmulBackwardBias,
  matmulBackwardInput,
  matmulBackwardWeight,
} from '../gpu/kernels/matmul/matmul-backward';
import { rmsnorm, rmsnormBackward } from '../gpu/kernels/rmsnorm';
import { rope, ropeBackward } from '../gpu/kernels/rope';
import type { Tensor } from '../gpu/tensor';
import type { TextConfig } from '../model/config';
import { FUSED } from '../model/fuse-weights';
import { isQuantized, type LinearWeight, type WeightScope } from '../model/gpu-weights';
import { sliceRows } from '../model/layers';
import type { TinyLlavaVideo } from '../model/tinyllava';
import { PREFIX } from '../model/weight-manifest';
import { LORA_TARGETS, type LoraAdapter, type LoraPair, type LoraTarget } from './lora';
import type { Param } from './params';

/** One decoder layer's frozen weights, split per projection. */
interface LayerWeights {
  inNorm: Tensor;
  postNorm: Tensor;
  proj: Record<LoraTarget, Tensor>;
  bias: { q: Tensor; k: Tensor; v: Tensor };
}

/** f32 gradients of every weight, for full fine-tuning (the shapes of the weights). */
interface FullGrads {
  layers: LayerWeights[];
  table: Tensor;
  /** The untied lm_head's; null when tied (its gradient adds to the table's). */
  head: Tensor | null;
  finalNorm: Tensor;
}

/** A projection's output and, when an adapter wraps it, the adapter's inner activation u = x·Aᵀ [T, r]. */
interface Projected {
  y: Tensor;
  u: Tensor | null;
}

/** What a layer's backward needs of its forward (recomputed, never stored across layers). */
interface LayerActs {
  x: Tensor;
  h1: Tensor;
  q: Projected;
  k: Projected;
  v: Projected;
  qr: Tensor;
  kr: Tensor;
  a: Tensor;
  o: Projected;
  x2: Tensor;
  h2: Tensor;
  gate: Projected;
  up: Projected;
  m: Tensor;
  down: Projected;
  out: Tensor;
}

function plain(w: LinearWeight, name: string): Tensor {
  if (isQuantized(w))
    throw new Error(
      `training needs plain weights, but ${name} is 4-bit: load the model with weights 'plain'`,
    );
  return w;
}

export class Policy {
  readonly cfg: TextConfig;
  private readonly layers: LayerWeights[];
  private readonly table: Tensor;
  private readonly head: Tensor;
  private readonly finalNorm: Tensor;
  private full: FullGrads | null = null;
  private fullParams: Param[] = [];

  constructor(
    private readonly ctx: GpuContext,
    model: TinyLlavaVideo,
  ) {
    this.cfg = model.config.text;
    const w = model.weights.scope(PREFIX.text);
    const { heads: H, kvHeads: Hkv, headDim: D, mlp: I } = this.cfg;
    const one = (name: string) => {
      const parts = w.table(name);
      if (parts.length !== 1)
        throw new Error(`training: ${name} is split in ${parts.length} parts (too large)`);
      return plain(parts[0], name);
    };
    this.table = one('model.embed_tokens.weight');
    this.head = this.cfg.tieWordEmbeddings ? this.table : one('lm_head.weight');
    this.finalNorm = w.get('model.norm.weight');
    this.layers = Array.from({ length: this.cfg.layers }, (_, l) => {
      const lw = w.scope(`model.layers.${l}.`);
      return ctx.keep(ctx.tidy(() => splitLayer(ctx, lw, H * D, Hkv * D, I)));
    });
  }

  /** Token ids → embeddings [n, C] in the activation dtype. */
  embed(ids: readonly number[]): Tensor {
    return this.ctx.tidy(() =>
      embedding(this.ctx, this.ctx.upload(Uint32Array.from(ids), [ids.length], 'u32'), this.table),
    );
  }

  /** Full fine-tuning: adds dRows [n, C] (of embed(ids)) to the embedding table's gradient. */
  embedBackward(ids: readonly number[], dRows: Tensor): void {
    const { ctx } = this;
    if (!this.full) throw new Error('embedBackward: call trainAll() first');
    const V = this.table.shape[0];
    ctx.tidy(() => axpy(ctx, this.full!.table, embeddingBackward(ctx, dRows, Uint32Array.from(ids), V), 1));
  }

  /**
   * Makes every weight of the language model trainable (full fine-tuning): allocates their f32
   * gradients (once) and returns them as parameters under their checkpoint names.
   */
  trainAll(): Param[] {
    if (this.full) return this.fullParams;
    const { ctx } = this;
    const zeros = (t: Tensor) => {
      if (t.dtype !== 'f32') throw new Error('full fine-tuning needs f32 weights: load the model in f32');
      return ctx.upload(new Float32Array(t.size), t.shape, 'f32');
    };
    const full: FullGrads = {
      layers: this.layers.map((p) => ({
        inNorm: zeros(p.inNorm),
        postNorm: zeros(p.postNorm),
        proj: Object.fromEntries(Object.entries(p.proj).map(([t, w]) => [t, zeros(w)])) as Record<
          LoraTarget,
          Tensor
        >,
        bias: { q: zeros(p.bias.q), k: zeros(p.bias.k), v: zeros(p.bias.v) },
      })),
      table: zeros(this.table),
      head: this.head === this.table ? null : zeros(this.head),
      finalNorm: zeros(this.finalNorm),
    };
    const m = `${PREFIX.text}model.`;
    const params: Param[] = [{ name: `${m}embed_tokens.weight`, p: this.table, g: full.table }];
    for (const [l, p] of this.layers.entries()) {
      const g = full.layers[l];
      const at = `${m}layers.${l}.`;
      params.push(
        { name: `${at}input_layernorm.weight`, p: p.inNorm, g: g.inNorm },
        { name: `${at}post_attention_layernorm.weight`, p: p.postNorm, g: g.postNorm },
      );
      for (const t of Object.keys(LORA_TARGETS) as LoraTarget[])
        params.push({ name: `${at}${LORA_TARGETS[t]}.weight`, p: p.proj[t], g: g.proj[t] });
      for (const t of ['q', 'k', 'v'] as const)
        params.push({ name: `${at}${LORA_TARGETS[t]}.bias`, p: p.bias[t], g: g.bias[t] });
    }
    params.push({ name: `${m}norm.weight`, p: this.finalNorm, g: full.finalNorm });
    if (full.head) params.push({ name: `${PREFIX.text}lm_head.weight`, p: this.head, g: full.head });
    this.full = full;
    this.fullParams = params;
    return params;
  }

  /**
   * log p(targets[j] | positions ≤ first + j) for j < n, from inputs x0 [T, C]: the log-probs of a
   * completion whose first token sits at position first + 1. Forward only; `lora` null = the base.
   */
  async logprobs(
    x0: Tensor,
    first: number,
    targets: readonly number[],
    lora: LoraAdapter | null,
  ): Promise<Float32Array> {
    const { ctx } = this;
    const lp = ctx.tidy(() => {
      const pos = positions(ctx, x0.shape[0]);
      let x = x0;
      for (let l = 0; l < this.cfg.layers; l++) x = this.layer(l, x, pos, lora).out;
      return this.headForward(x, first, targets).lp;
    });
    const out = await ctx.read(lp);
    ctx.release(lp);
    return out;
  }

  /**
   * Forward with the adapter, then the backward of L = Σ_j g_j · logp_j, where g = grad(logp) is
   * computed on the host from the forward's log-probs (the GRPO / SFT loss). Adds dL/dA and dL/dB to
   * the adapter's gradients, and after trainAll() dL/dW of every weight (`lora` may then be null).
   * With `dX0` [T, C] f32, adds dL/dx0 to it (the input embeddings': text rows, visual tokens).
   * Returns the log-probs.
   */
  async backward(
    x0: Tensor,
    first: number,
    targets: readonly number[],
    lora: LoraAdapter | null,
    grad: (logp: Float32Array) => Float32Array,
    dX0?: Tensor,
  ): Promise<Float32Array> {
    const { ctx, cfg } = this;
    if (!lora && !this.full) throw new Error('backward: nothing to train (no adapter, no trainAll())');
    const pos = positions(ctx, x0.shape[0]);
    // Forward, keeping each layer's input (checkpoints).
    const inputs: Tensor[] = [];
    let x = x0;
    for (let l = 0; l < cfg.layers; l++) {
      inputs.push(x);
      const xl = x;
      x = ctx.tidy(() => this.layer(l, xl, pos, lora).out);
    }
    const head = ctx.tidy(() => this.headForward(x, first, targets));
    const logp = await ctx.read(head.lp);
    const g = grad(logp);
    if (g.length !== targets.length)
      throw new Error(`backward: ${g.length} gradients for ${targets.length} tokens`);
    // d/dlogp → d/dlogits → d/d(final norm input) rows, scattered into dX [T, C].
    let dx = ctx.tidy(() => {
      const dLogits = logprobsBackward(
        ctx,
        ctx.upload(g, [g.length], 'f32'),
        head.logits,
        head.targets,
        head.lp,
      );
      const norm = rmsnormBackward(
        ctx,
        matmulBackwardInput(ctx, dLogits, this.head),
        head.rows,
        this.finalNorm,
        cfg.eps,
      );
      if (this.full) {
        // logits = rmsnorm(rows)·headᵀ: dHead = dLogitsᵀ·rmsnorm(rows) (the table's, when tied)
        const normed = rmsnorm(ctx, head.rows, this.finalNorm, cfg.eps);
        axpy(ctx, this.full.head ?? this.full.table, matmulBackwardWeight(ctx, dLogits, normed), 1);
        axpy(ctx, this.full.finalNorm, norm.dW, 1);
      }
      const dRows = norm.dX;
      const C = cfg.hidden;
      const dHidden = ctx.upload(new Float32Array(x0.shape[0] * C), [x0.shape[0], C], 'f32');
      ctx.copyRegion(dRows, 0, dHidden, first * C * 4, dRows.byteLength);
      return dHidden;
    });
    ctx.release(head.rows, head.logits, head.targets, head.lp);
    if (x !== x0) ctx.release(x);
    // Layers in reverse: recompute one layer's activations, then its backward.
    for (let l = cfg.layers - 1; l >= 0; l--) {
      const dOut = dx;
      dx = ctx.tidy(() => this.layerBackward(l, dOut, this.layer(l, inputs[l], pos, lora), pos, lora));
      ctx.release(dOut);
      if (inputs[l] !== x0) ctx.release(inputs[l]);
    }
    if (dX0) axpy(ctx, dX0, dx, 1);
    ctx.release(dx, pos);
    return logp;
  }

  /** Final norm and lm_head on the n rows that predict the targets, then their log-probs. */
  private headForward(x: Tensor, first: number, targets: readonly number[]) {
    const { ctx, cfg } = this;
    const n = targets.length;
    if (!(first >= 0 && first + n <= x.shape[0]))
      throw new Error(`logprobs: rows ${first}..${first + n} of ${x.shape[0]}`);
    const rows = sliceRows(ctx, x, first, first + n); // [n, C]
    const logits = matmul(ctx, rmsnorm(ctx, rows, this.finalNorm, cfg.eps), this.head, null); // [n, V]
    const t = ctx.upload(Uint32Array.from(targets), [n], 'u32');
    return { rows, logits, targets: t, lp: logprobs(ctx, logits, t) };
  }

  /** One decoder layer on x [T, C] (Qwen2: pre-norm attention and SiLU MLP, each with a residual). */
  private layer(l: number, x: Tensor, pos: Tensor, lora: LoraAdapter | null): LayerActs {
    const { ctx, cfg } = this;
    const p = this.layers[l];
    const pairs = lora?.layers[l] ?? {};
    const s = lora?.scale ?? 0;
    const { heads: H, kvHeads: Hkv, headDim: D, eps, ropeTheta } = cfg;
    const T = x.shape[0];
    const proj = (h: Tensor, t: LoraTarget, bias: Tensor | null) =>
      project(ctx, h, p.proj[t], bias, pairs[t], s);
    const h1 = rmsnorm(ctx, x, p.inNorm, eps);
    const q = proj(h1, 'q', p.bias.q);
    const k = proj(h1, 'k', p.bias.k);
    const v = proj(h1, 'v', p.bias.v);
    const qr = rope(ctx, q.y.view([T, H, D]), pos, ropeTheta);
    const kr = rope(ctx, k.y.view([T, Hkv, D]), pos, ropeTheta);
    const a = attention(ctx, qr, kr, v.y.view([T, Hkv, D]), { causal: true, scale: 1 / Math.sqrt(D) }).view([
      T,
      H * D,
    ]);
    const o = proj(a, 'o', null);
    const x2 = add(ctx, x, o.y);
    const h2 = rmsnorm(ctx, x2, p.postNorm, eps);
    const gate = proj(h2, 'gate', null);
    const up = proj(h2, 'up', null);
    const m = siluMul(ctx, gate.y, up.y);
    const down = proj(m, 'down', null);
    const out = add(ctx, x2, down.y);
    return { x, h1, q, k, v, qr, kr, a, o, x2, h2, gate, up, m, down, out };
  }

  /** dOut [T, C] f32 → dX [T, C] f32, adding the layer's adapter gradients (and the weights', when full). */
  private layerBackward(
    l: number,
    dOut: Tensor,
    f: LayerActs,
    pos: Tensor,
    lora: LoraAdapter | null,
  ): Tensor {
    const { ctx, cfg } = this;
    const p = this.layers[l];
    const pairs = lora?.layers[l] ?? {};
    const full = this.full?.layers[l];
    const back = (dy: Tensor, h: Tensor, t: LoraTarget, pr: Projected) => {
      if (full) {
        axpy(ctx, full.proj[t], matmulBackwardWeight(ctx, dy, h), 1);
        if (t === 'q' || t === 'k' || t === 'v') axpy(ctx, full.bias[t], matmulBackwardBias(ctx, dy), 1);
      }
      return projectBackward(ctx, dy, h, p.proj[t], pairs[t], pr.u, lora?.scale ?? 0);
    };
    const normBack = (dy: Tensor, x: Tensor, w: Tensor, dW: Tensor | undefined) => {
      const r = rmsnormBackward(ctx, dy, x, w, cfg.eps);
      if (dW) axpy(ctx, dW, r.dW, 1);
      return r.dX;
    };
    const { heads: H, kvHeads: Hkv, headDim: D, ropeTheta } = cfg;
    const T = dOut.shape[0];
    // out = x2 + down(silu(gate(h2))·up(h2)), h2 = norm(x2)
    const dx2 = copy(ctx, dOut);
    const dm = back(dOut, f.m, 'down', f.down);
    const { dGate, dUp } = siluMulBackward(ctx, dm, f.gate.y, f.up.y);
    const dh2 = back(dGate, f.h2, 'gate', f.gate);
    axpy(ctx, dh2, back(dUp, f.h2, 'up', f.up), 1);
    axpy(ctx, dx2, normBack(dh2, f.x2, p.postNorm, full?.postNorm), 1);
    // x2 = x + o(attention(rope(q(h1)), rope(k(h1)), v(h1))), h1 = norm(x)
    const da = back(dx2, f.a, 'o', f.o).view([T, H, D]);
    const g = attentionBackward(ctx, da, f.qr, f.kr, f.v.y.view([T, Hkv, D]), {
      causal: true,
      scale: 1 / Math.sqrt(D),
    });
    const dq = ropeBackward(ctx, g.dQ, pos, ropeTheta).view([T, H * D]);
    const dk = ropeBackward(ctx, g.dK, pos, ropeTheta).view([T, Hkv * D]);
    const dh1 = back(dq, f.h1, 'q', f.q);
    axpy(ctx, dh1, back(dk, f.h1, 'k', f.k), 1);
    axpy(ctx, dh1, back(g.dV.view([T, Hkv * D]), f.h1, 'v', f.v), 1);
    axpy(ctx, dx2, normBack(dh1, f.x, p.inNorm, full?.inNorm), 1);
    return dx2;
  }

  /**
   * Writes base + s·B·A of every projection into the inference model's weights (the fused q/k/v and
   * gate/up rows included), so generate samples from the adapted policy; with `lora` null, the base.
   * The q/k/v biases too (they change only under full fine-tuning).
   */
  mergeInto(model: TinyLlavaVideo, lora: LoraAdapter | null): void {
    const { ctx, cfg } = this;
    const w = model.weights.scope(PREFIX.text);
    const { heads: H, kvHeads: Hkv, headDim: D, mlp: I } = cfg;
    // Where each projection lives in the inference weights: tensor and first row.
    const place: Record<LoraTarget, [string, number]> = {
      q: [FUSED.qkv.name, 0],
      k: [FUSED.qkv.name, H * D],
      v: [FUSED.qkv.name, (H + Hkv) * D],
      o: ['self_attn.o_proj', 0],
      gate: [FUSED.gateUp.name, 0],
      up: [FUSED.gateUp.name, I],
      down: ['mlp.down_proj', 0],
    };
    for (const [l, p] of this.layers.entries()) {
      const lw = w.scope(`model.layers.${l}.`);
      for (const t of Object.keys(place) as LoraTarget[]) {
        const pair = lora?.layers[l][t];
        const [name, row] = place[t];
        const dest = plain(lw.linear(`${name}.weight`), name);
        ctx.tidy(() => {
          const merged = copy(ctx, p.proj[t]);
          if (pair) axpy(ctx, merged, matmulBackwardInput(ctx, pair.B, pair.A), lora!.scale); // B·A [out, in]
          const rowBytes = merged.byteLength / merged.shape[0];
          ctx.copyRegion(merged, 0, dest, row * rowBytes, merged.byteLength);
        });
      }
      const bias = lw.get(`${FUSED.qkv.name}.bias`);
      for (const t of ['q', 'k', 'v'] as const) {
        const elem = bias.byteLength / bias.size;
        ctx.copyRegion(p.bias[t], 0, bias, place[t][1] * elem, p.bias[t].byteLength);
      }
    }
  }

  destroy(): void {
    for (const p of this.layers)
      for (const t of [...Object.values(p.proj), p.bias.q, p.bias.k, p.bias.v]) this.ctx.release(t);
    for (const { g } of this.fullParams) this.ctx.release(g);
  }
}

/** y = h·Wᵀ (+ b) (+ s·(h·Aᵀ)·Bᵀ). */
function project(
  ctx: GpuContext,
  h: Tensor,
  w: Tensor,
  bias: Tensor | null,
  pair: LoraPair | undefined,
  s: number,
): Projected {
  const y = matmul(ctx, h, w, bias);
  if (!pair) return { y, u: null };
  const u = matmul(ctx, h, pair.A, null); // [T, r]
  axpy(ctx, y, matmul(ctx, u, pair.B, null), s);
  return { y, u };
}

/** dH for y = project(h): dY·W (+ s·(dY·B)·A), adding s·dYᵀ·u to dB and s·(dY·B)ᵀ·h to dA. */
function projectBackward(
  ctx: GpuContext,
  dy: Tensor,
  h: Tensor,
  w: Tensor,
  pair: LoraPair | undefined,
  u: Tensor | null,
  s: number,
): Tensor {
  const dh = matmulBackwardInput(ctx, dy, w);
  if (!pair || !u) return dh;
  const dyB = matmulBackwardInput(ctx, dy, pair.B); // [T, r]
  axpy(ctx, dh, matmulBackwardInput(ctx, dyB, pair.A), s);
  axpy(ctx, pair.dB, matmulBackwardWeight(ctx, dy, u), s);
  axpy(ctx, pair.dA, matmulBackwardWeight(ctx, dyB, h), s);
  return dh;
}

/** Positions 0..T−1 as a u32 tensor. */
function positions(ctx: GpuContext, T: number): Tensor {
  return ctx.upload(
    Uint32Array.from({ length: T }, (_, i) => i),
    [T],
    'u32',
  );
}

/** The loader's fused q/k/v and gate/up split back into per-projection copies (by rows). */
function splitLayer(ctx: GpuContext, w: WeightScope, qRows: number, kvRows: number, I: number): LayerWeights {
  const qkv = plain(w.linear(`${FUSED.qkv.name}.weight`), FUSED.qkv.name);
  const qkvBias = w.get(`${FUSED.qkv.name}.bias`);
  const gateUp = plain(w.linear(`${FUSED.gateUp.name}.weight`), FUSED.gateUp.name);
  const rows = (t: Tensor, from: number, n: number) => sliceRows(ctx, t, from, from + n);
  // Every projection is a copy (the policy's own): merging an adapter into the inference weights must
  // not move the frozen base.
  const own = (name: string) => copy(ctx, plain(w.linear(name), name));
  return {
    inNorm: w.get('input_layernorm.weight'),
    postNorm: w.get('post_attention_layernorm.weight'),
    proj: {
      q: rows(qkv, 0, qRows),
      k: rows(qkv, qRows, kvRows),
      v: rows(qkv, qRows + kvRows, kvRows),
      o: own('self_attn.o_proj.weight'),
      gate: rows(gateUp, 0, I),
      up: rows(gateUp, I, I),
      down: own('mlp.down_proj.weight'),
    },
    bias: {
      q: rows(qkvBias, 0, qRows),
      k: rows(qkvBias, qRows, kvRows),
      v: rows(qkvBias, qRows + kvRows, kvRows),
    },
  };
}
