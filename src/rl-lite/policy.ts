/**
 * The language model as the trainer runs it: whole sequences (no KV cache), LoRA applied on the fly,
 * and the backward pass of the token log-probs. Letters: T positions, C hidden, H query heads, Hkv kv
 * heads, D head dim, I MLP width, V vocabulary, r LoRA rank, n completion tokens.
 *
 * Gradient checkpointing: the forward keeps only each layer's input; the backward runs the layers in
 * reverse, recomputing one layer's activations at a time, so memory grows with one layer, not all.
 * Activations stay in the model's dtype; gradients flow in f32 (dW of the adapters too).
 *
 * LoRA dropout (lora.ts) applies to passes given a DropoutPass: the masks are recomputed from their
 * keys, in the recomputed forward and in the backward, never stored.
 *
 * With an adapter the base weights are frozen. The loader fuses q/k/v and gate/up for inference; the
 * policy keeps its own split copies of them and of the q/k/v bias, in the form they were loaded. Plain
 * weights: o and down are copies too, so an adapter can be merged into the inference model's weights
 * for rollouts (mergeInto) while the base here stays as loaded. 4-bit weights (copies of 5 bits a
 * weight in the engine's format; o and down are the model's own): mergeInto hands the model's decoder
 * the adapter unmerged and the weights are never written. A 4-bit projection runs forward on the
 * model's 4-bit matmul; its dX dequantizes the one projection into a temporary plain copy (inside the
 * layer's backward scope) for the tiled GEMM. A tiled transposed-4-bit GEMM would skip that copy and be
 * faster; it does not exist yet (matmulQ4BackwardInput, one thread per output, serves the vocabulary
 * table, too large to copy).
 *
 * The vocabulary table may be split in row parts (the load plan) and may be 4-bit: the prompt is
 * embedded by the model's own embedding kernels, and lm_head + log-softmax run on the completion rows
 * only, in chunks of rows so a chunk's [rows, V] logits fit one storage binding (recomputed in the
 * backward rather than kept).
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
import { dropout, dropoutBackward } from '../gpu/kernels/dropout';
import { embedding, embeddingBackward } from '../gpu/kernels/embedding';
import { embeddingQ4 } from '../gpu/kernels/embedding-q4';
import { logprobs, logprobsBackward } from '../gpu/kernels/logprobs';
import { matmul } from '../gpu/kernels/matmul/matmul';
import {
  matmulBackwardBias,
  matmulBackwardInput,
  matmulBackwardWeight,
  matmulQ4BackwardInput,
} from '../gpu/kernels/matmul/matmul-backward';
import { dequantizeQ4 } from '../gpu/kernels/quant/dequantize';
import { layoutOf, type QTensor, releaseQ4 } from '../gpu/kernels/quant/format';
import { rmsnorm, rmsnormBackward } from '../gpu/kernels/rmsnorm';
import { rope, ropeBackward } from '../gpu/kernels/rope';
import type { Tensor } from '../gpu/tensor';
import type { TextConfig } from '../model/config';
import { FUSED } from '../model/fuse-weights';
import { isQuantized, type LinearWeight, type WeightScope } from '../model/gpu-weights';
import { concatRows, project as projectBase, projectParts, sliceRows } from '../model/layers';
import type { DecoderAdapter } from '../model/qwen2';
import type { TinyLlavaVideo } from '../model/tinyllava';
import { PREFIX } from '../model/weight-manifest';
import { adapterTensors, decoderAdapter } from './decoder-adapter';
import {
  type DropoutPass,
  LORA_TARGETS,
  type LoraAdapter,
  type LoraDropout,
  type LoraPair,
  type LoraTarget,
} from './lora';
import type { Param } from './params';

/** One sequence of a stacked batch: the row (in the whole stack) that predicts its first target, and its targets. */
export interface Segment {
  first: number;
  targets: readonly number[];
}

/** One decoder layer's frozen weights, split per projection (plain or 4-bit, as loaded). */
interface LayerWeights<W = LinearWeight> {
  inNorm: Tensor;
  postNorm: Tensor;
  proj: Record<LoraTarget, W>;
  bias: { q: Tensor; k: Tensor; v: Tensor };
}

/** f32 gradients of every weight, for full fine-tuning (the shapes of the weights). */
interface FullGrads {
  layers: LayerWeights<Tensor>[];
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
      `full fine-tuning needs plain weights, but ${name} is 4-bit: load the model with full weights, or train a LoRA adapter`,
    );
  return w;
}

export interface PolicyOptions {
  /** Completion rows per lm_head chunk (default: as many as 64 MiB, or one binding, of f32 logits hold). */
  headRows?: number;
}

export class Policy {
  readonly cfg: TextConfig;
  private readonly layers: LayerWeights[];
  /** The embedding table's and lm_head's row parts (the same parts when tied). */
  private readonly tableParts: LinearWeight[];
  private readonly headParts: LinearWeight[];
  private readonly finalNorm: Tensor;
  private readonly headRows: number;
  private full: FullGrads | null = null;
  private fullParams: Param[] = [];
  /** The adapter a 4-bit model's decoder applies unmerged (mergeInto), and that model. */
  private unmerged: { model: TinyLlavaVideo; adapter: DecoderAdapter } | null = null;

  constructor(
    private readonly ctx: GpuContext,
    model: TinyLlavaVideo,
    opts: PolicyOptions = {},
  ) {
    this.cfg = model.config.text;
    const w = model.weights.scope(PREFIX.text);
    const { heads: H, kvHeads: Hkv, headDim: D, mlp: I } = this.cfg;
    this.tableParts = w.table('model.embed_tokens.weight');
    this.headParts = this.cfg.tieWordEmbeddings ? this.tableParts : w.table('lm_head.weight');
    for (const parts of [this.tableParts, this.headParts])
      if (parts.some(isQuantized) && !parts.every(isQuantized))
        throw new Error('training: a vocabulary table mixes plain and 4-bit parts');
    const V = this.headParts.reduce((n, p) => n + rowCount(p), 0);
    // f32 logits (and their gradient) of a chunk within one binding, and at most 64 MiB each: the head
    // reads the table once a chunk, so a few chunks cost little and keep the transient memory small.
    const budget = Math.min(ctx.summary.limits.maxStorageBufferBindingSize, 64 * 2 ** 20);
    this.headRows = Math.max(1, opts.headRows ?? Math.floor(budget / (V * 4)));
    this.finalNorm = w.get('model.norm.weight');
    this.layers = Array.from({ length: this.cfg.layers }, (_, l) => {
      const lw = w.scope(`model.layers.${l}.`);
      return ctx.keep(ctx.tidy(() => splitLayer(ctx, lw, H * D, Hkv * D, I)));
    });
  }

  /** Token ids → embeddings [n, C] in the activation dtype (through the model's own embedding kernels). */
  embed(ids: readonly number[]): Tensor {
    const { ctx } = this;
    return ctx.tidy(() => {
      const t = ctx.upload(Uint32Array.from(ids), [ids.length], 'u32');
      const parts = this.tableParts;
      return parts.every(isQuantized)
        ? embeddingQ4(ctx, t, parts, ctx.actDtype as 'f32' | 'f16')
        : embedding(ctx, t, parts as Tensor[]);
    });
  }

  /** Full fine-tuning: adds dRows [n, C] (of embed(ids)) to the embedding table's gradient. */
  embedBackward(ids: readonly number[], dRows: Tensor): void {
    const { ctx } = this;
    if (!this.full) throw new Error('embedBackward: call trainAll() first');
    const V = this.full.table.shape[0];
    ctx.tidy(() => axpy(ctx, this.full!.table, embeddingBackward(ctx, dRows, Uint32Array.from(ids), V), 1));
  }

  /** The one plain f32 tensor of a table (full fine-tuning only). */
  private wholeTable(parts: LinearWeight[], name: string): Tensor {
    if (parts.length !== 1)
      throw new Error(`full fine-tuning: ${name} is split in ${parts.length} parts (too large)`);
    return plain(parts[0], name);
  }

  /**
   * Makes every weight of the language model trainable (full fine-tuning): allocates their f32
   * gradients (once) and returns them as parameters under their checkpoint names.
   */
  trainAll(): Param[] {
    if (this.full) return this.fullParams;
    const { ctx } = this;
    const table = this.wholeTable(this.tableParts, 'the embedding table');
    const headW = this.headParts === this.tableParts ? table : this.wholeTable(this.headParts, 'lm_head');
    const layers = this.layers.map((p) => ({
      ...p,
      proj: Object.fromEntries(
        Object.entries(p.proj).map(([t, w]) => [t, plain(w, LORA_TARGETS[t as LoraTarget])]),
      ) as Record<LoraTarget, Tensor>,
    }));
    const zeros = (t: Tensor) => {
      if (t.dtype !== 'f32') throw new Error('full fine-tuning needs f32 weights: load the model in f32');
      return ctx.upload(new Float32Array(t.size), t.shape, 'f32');
    };
    const full: FullGrads = {
      layers: layers.map((p) => ({
        inNorm: zeros(p.inNorm),
        postNorm: zeros(p.postNorm),
        proj: Object.fromEntries(Object.entries(p.proj).map(([t, w]) => [t, zeros(w)])) as Record<
          LoraTarget,
          Tensor
        >,
        bias: { q: zeros(p.bias.q), k: zeros(p.bias.k), v: zeros(p.bias.v) },
      })),
      table: zeros(table),
      head: headW === table ? null : zeros(headW),
      finalNorm: zeros(this.finalNorm),
    };
    const m = `${PREFIX.text}model.`;
    const params: Param[] = [{ name: `${m}embed_tokens.weight`, p: table, g: full.table }];
    for (const [l, p] of layers.entries()) {
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
    if (full.head) params.push({ name: `${PREFIX.text}lm_head.weight`, p: headW, g: full.head });
    this.full = full;
    this.fullParams = params;
    return params;
  }

  /**
   * log p(targets[j] | positions ≤ first + j) for j < n, from inputs x0 [T, C]: the log-probs of a
   * completion whose first token sits at position first + 1. Forward only; `lora` null = the base.
   * With `pass`, the adapter's dropout as that training pass applies it (else none).
   */
  async logprobs(
    x0: Tensor,
    first: number,
    targets: readonly number[],
    lora: LoraAdapter | null,
    pass?: DropoutPass,
  ): Promise<Float32Array> {
    const [lp] = await this.logprobsBatch(x0, 1, [{ first, targets }], lora, pass);
    return lp;
  }

  /** logprobs() of B sequences stacked in x0 [B·T, C] as backwardBatch takes them: one pass. */
  async logprobsBatch(
    x0: Tensor,
    B: number,
    segments: readonly Segment[],
    lora: LoraAdapter | null,
    pass?: DropoutPass,
  ): Promise<Float32Array[]> {
    const { ctx } = this;
    const lp = ctx.tidy(() => {
      const pos = positions(ctx, x0.shape[0] / B, B);
      let x = x0;
      for (let l = 0; l < this.cfg.layers; l++) x = this.layer(l, x, pos, lora, pass, B).out;
      return this.headLogprobs(
        this.completionRows(x, segments),
        segments.flatMap((s) => s.targets),
      );
    });
    const all = await ctx.read(lp);
    ctx.release(lp);
    return splitSegments(all, segments);
  }

  /**
   * Forward with the adapter, then the backward of L = Σ_j g_j · logp_j, where g = grad(logp) is
   * computed on the host from the forward's log-probs (the GRPO / SFT loss). Adds dL/dA and dL/dB to
   * the adapter's gradients, and after trainAll() dL/dW of every weight (`lora` may then be null).
   * With `dX0` [T, C] f32, adds dL/dx0 to it (the input embeddings': text rows, visual tokens).
   * With `pass`, the adapter's dropout as that training pass applies it. Returns the log-probs.
   */
  async backward(
    x0: Tensor,
    first: number,
    targets: readonly number[],
    lora: LoraAdapter | null,
    grad: (logp: Float32Array) => Float32Array,
    dX0?: Tensor,
    pass?: DropoutPass,
  ): Promise<Float32Array> {
    const [lp] = await this.backwardBatch(x0, 1, [{ first, targets }], lora, (l) => [grad(l[0])], dX0, pass);
    return lp;
  }

  /**
   * backward() over B sequences of T positions each, stacked in x0 [B·T, C] (shorter ones padded at
   * their end: causal attention keeps padding out of every real row). segments[b].first is the row,
   * counted in the whole stack, that predicts sequence b's first target. grad maps each sequence's
   * log-probs to its g. One pass costs about what one sequence does where dispatches dominate.
   */
  async backwardBatch(
    x0: Tensor,
    B: number,
    segments: readonly Segment[],
    lora: LoraAdapter | null,
    grad: (logp: Float32Array[]) => Float32Array[],
    dX0?: Tensor,
    pass?: DropoutPass,
  ): Promise<Float32Array[]> {
    const { ctx, cfg } = this;
    if (!lora && !this.full) throw new Error('backward: nothing to train (no adapter, no trainAll())');
    const R = x0.shape[0];
    if (R % B !== 0 || segments.length !== B)
      throw new Error(`backward: ${R} rows, ${segments.length} segments for ${B} sequences`);
    const pos = positions(ctx, R / B, B);
    // Forward, keeping each layer's input (checkpoints).
    const inputs: Tensor[] = [];
    let x = x0;
    for (let l = 0; l < cfg.layers; l++) {
      inputs.push(x);
      const xl = x;
      x = ctx.tidy(() => this.layer(l, xl, pos, lora, pass, B).out);
    }
    const xf = x;
    const targets = segments.flatMap((s) => s.targets);
    const rows = ctx.tidy(() => this.completionRows(xf, segments));
    const lp = ctx.tidy(() => this.headLogprobs(rows, targets));
    const logp = splitSegments(await ctx.read(lp), segments);
    const gs = grad(logp);
    const g = new Float32Array(targets.length);
    for (let at = 0, b = 0; b < B; at += segments[b].targets.length, b++) {
      if (gs[b]?.length !== segments[b].targets.length)
        throw new Error(`backward: ${gs[b]?.length} gradients for ${segments[b].targets.length} tokens`);
      g.set(gs[b], at);
    }
    // d/dlogp → d/dlogits → d/d(final norm input) rows, scattered into dX [B·T, C].
    let dx = ctx.tidy(() => {
      const dHidden = ctx.upload(new Float32Array(R * cfg.hidden), [R, cfg.hidden], 'f32');
      this.headBackward(rows, targets, g, lp, dHidden, segments);
      return dHidden;
    });
    ctx.release(rows, lp);
    if (x !== x0) ctx.release(x);
    // Layers in reverse: recompute one layer's activations, then its backward.
    for (let l = cfg.layers - 1; l >= 0; l--) {
      const dOut = dx;
      dx = ctx.tidy(() =>
        this.layerBackward(l, dOut, this.layer(l, inputs[l], pos, lora, pass, B), pos, lora, pass, B),
      );
      ctx.release(dOut);
      if (inputs[l] !== x0) ctx.release(inputs[l]);
    }
    if (dX0) axpy(ctx, dX0, dx, 1);
    ctx.release(dx, pos);
    return logp;
  }

  /** The rows [Σn, C] of x that predict the segments' targets, segment after segment. */
  private completionRows(x: Tensor, segments: readonly Segment[]): Tensor {
    const parts = segments.map(({ first, targets }) => {
      const n = targets.length;
      if (!(first >= 0 && first + n <= x.shape[0]))
        throw new Error(`logprobs: rows ${first}..${first + n} of ${x.shape[0]}`);
      return sliceRows(this.ctx, x, first, first + n);
    });
    return parts.length === 1 ? parts[0] : concatRows(this.ctx, parts);
  }

  /** Final norm and lm_head (over the table's parts, 4-bit or plain) on rows [R, C]: logits [R, V]. */
  private headLogits(rows: Tensor): Tensor {
    const { ctx, cfg } = this;
    return projectParts(ctx, rmsnorm(ctx, rows, this.finalNorm, cfg.eps), this.headParts);
  }

  /** The chunks of completion rows, [from, to), that lm_head runs on at a time. */
  private *chunks(n: number): Generator<[number, number]> {
    for (let r = 0; r < n; r += this.headRows) yield [r, Math.min(n, r + this.headRows)];
  }

  /** Log-probs [n] f32 of the targets from the completion rows [n, C], a chunk of rows at a time. */
  private headLogprobs(rows: Tensor, targets: readonly number[]): Tensor {
    const { ctx } = this;
    const n = targets.length;
    const lp = ctx.empty([n], 'f32');
    for (const [a, b] of this.chunks(n))
      ctx.tidy(() => {
        const t = ctx.upload(Uint32Array.from(targets.slice(a, b)), [b - a], 'u32');
        const part = logprobs(ctx, this.headLogits(sliceRows(ctx, rows, a, b)), t);
        ctx.copyRegion(part, 0, lp, a * 4, part.byteLength);
      });
    return lp;
  }

  /**
   * Backward of the head, chunk by chunk (logits recomputed): g = dL/dlogp [n] → dL/drows, written into
   * dHidden [T, C] f32 at row first; after trainAll(), the head's and final norm's gradients too.
   */
  private headBackward(
    rows: Tensor,
    targets: readonly number[],
    g: Float32Array,
    lp: Tensor,
    dHidden: Tensor,
    segments: readonly Segment[],
  ): void {
    const { ctx, cfg } = this;
    const C = cfg.hidden;
    // Completion row i (segments concatenated) → its row in dHidden.
    const dest = segments.flatMap(({ first, targets: t }) => t.map((_, j) => first + j));
    for (const [a, b] of this.chunks(targets.length))
      ctx.tidy(() => {
        const r = sliceRows(ctx, rows, a, b);
        const t = ctx.upload(Uint32Array.from(targets.slice(a, b)), [b - a], 'u32');
        const dLogits = logprobsBackward(
          ctx,
          ctx.upload(g.subarray(a, b), [b - a], 'f32'),
          this.headLogits(r),
          t,
          sliceRows(ctx, lp, a, b),
        ); // [R, V] f32
        // d(normed rows) = Σ over the table's parts of dLogits[:, part's columns]·part.
        let col = 0;
        let dNormed: Tensor | null = null;
        for (const p of this.headParts) {
          const Vp = rowCount(p);
          const d = cols(ctx, dLogits, col, Vp);
          const dp = isQuantized(p) ? matmulQ4BackwardInput(ctx, d, p) : matmulBackwardInput(ctx, d, p);
          if (dNormed) axpy(ctx, dNormed, dp, 1);
          else dNormed = dp;
          col += Vp;
        }
        const norm = rmsnormBackward(ctx, dNormed!, r, this.finalNorm, cfg.eps);
        if (this.full) {
          // logits = rmsnorm(rows)·headᵀ: dHead = dLogitsᵀ·rmsnorm(rows) (the table's, when tied)
          const normed = rmsnorm(ctx, r, this.finalNorm, cfg.eps);
          axpy(ctx, this.full.head ?? this.full.table, matmulBackwardWeight(ctx, dLogits, normed), 1);
          axpy(ctx, this.full.finalNorm, norm.dW, 1);
        }
        for (let i = a; i < b; ) {
          let n = 1; // a run of consecutive destination rows, copied at once
          while (i + n < b && dest[i + n] === dest[i] + n) n++;
          ctx.copyRegion(norm.dX, (i - a) * C * 4, dHidden, dest[i] * C * 4, n * C * 4);
          i += n;
        }
      });
  }

  /** One decoder layer on x [T, C] (Qwen2: pre-norm attention and SiLU MLP, each with a residual). */
  private layer(
    l: number,
    x: Tensor,
    pos: Tensor,
    lora: LoraAdapter | null,
    pass?: DropoutPass,
    B = 1,
  ): LayerActs {
    const { ctx, cfg } = this;
    const p = this.layers[l];
    const pairs = lora?.layers[l] ?? {};
    const s = lora?.scale ?? 0;
    const { heads: H, kvHeads: Hkv, headDim: D, eps, ropeTheta } = cfg;
    const T = x.shape[0];
    const proj = (h: Tensor, t: LoraTarget, bias: Tensor | null) =>
      project(ctx, h, p.proj[t], bias, pairs[t], s, lora?.dropoutOf(pass, l, t) ?? null);
    const h1 = rmsnorm(ctx, x, p.inNorm, eps);
    const q = proj(h1, 'q', p.bias.q);
    const k = proj(h1, 'k', p.bias.k);
    const v = proj(h1, 'v', p.bias.v);
    const qr = rope(ctx, q.y.view([T, H, D]), pos, ropeTheta);
    const kr = rope(ctx, k.y.view([T, Hkv, D]), pos, ropeTheta);
    const seqs = (t: Tensor, h: number) => t.view([B, T / B, h, D]); // B sequences stacked
    const a = attention(ctx, seqs(qr, H), seqs(kr, Hkv), seqs(v.y, Hkv), {
      causal: true,
      scale: 1 / Math.sqrt(D),
    }).view([T, H * D]);
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
    pass?: DropoutPass,
    B = 1,
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
      const drop = lora?.dropoutOf(pass, l, t) ?? null;
      return projectBackward(ctx, dy, h, p.proj[t], pairs[t], pr.u, lora?.scale ?? 0, drop);
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
    const seqs = (t: Tensor, h: number) => t.view([B, T / B, h, D]); // B sequences stacked
    const g = attentionBackward(ctx, seqs(da, H), seqs(f.qr, H), seqs(f.kr, Hkv), seqs(f.v.y, Hkv), {
      causal: true,
      scale: 1 / Math.sqrt(D),
    });
    const dq = ropeBackward(ctx, g.dQ.view([T, H, D]), pos, ropeTheta).view([T, H * D]);
    const dk = ropeBackward(ctx, g.dK.view([T, Hkv, D]), pos, ropeTheta).view([T, Hkv * D]);
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
   *
   * 4-bit weights stay as loaded: the adapter is handed to the decoder, which applies it unmerged
   * (re-quantizing base + s·B·A would round updates smaller than half a 4-bit level away).
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
    const quantized = isQuantized(this.layers[0]?.proj.q);
    this.dropUnmerged();
    if (quantized && lora) {
      const adapter = decoderAdapter(ctx, cfg, lora);
      model.llm.adapter = adapter;
      this.unmerged = { model, adapter };
    }
    for (const [l, p] of this.layers.entries()) {
      const lw = w.scope(`model.layers.${l}.`);
      for (const t of Object.keys(place) as LoraTarget[]) {
        if (quantized) break;
        const pair = lora?.layers[l][t];
        const [name, row] = place[t];
        const dest = plain(lw.linear(`${name}.weight`), name);
        ctx.tidy(() => {
          const merged = copy(ctx, p.proj[t] as Tensor);
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

  /** Takes the unmerged adapter off the decoder it was handed to, and frees it. */
  private dropUnmerged(): void {
    if (!this.unmerged) return;
    this.unmerged.model.llm.adapter = null;
    this.ctx.flush(); // commands recorded with its tensors are submitted before the buffers go back
    this.ctx.release(...adapterTensors(this.unmerged.adapter));
    this.unmerged = null;
  }

  destroy(): void {
    this.dropUnmerged();
    for (const p of this.layers) {
      for (const w of Object.values(p.proj)) {
        if (!isQuantized(w)) this.ctx.release(w);
        else if (w !== p.proj.o && w !== p.proj.down) releaseQ4(this.ctx, w); // o, down: the model's
      }
      this.ctx.release(p.bias.q, p.bias.k, p.bias.v);
    }
    for (const { g } of this.fullParams) this.ctx.release(g);
  }
}

/** y = h·Wᵀ (+ b) (+ s·(drop(h)·Aᵀ)·Bᵀ). */
function project(
  ctx: GpuContext,
  h: Tensor,
  w: LinearWeight,
  bias: Tensor | null,
  pair: LoraPair | undefined,
  s: number,
  drop: LoraDropout | null,
): Projected {
  const y = projectBase(ctx, h, w, bias); // the model's 4-bit matmul for a 4-bit base
  if (!pair) return { y, u: null };
  const hd = drop ? dropout(ctx, h, drop.p, drop.key) : h; // [T, in]
  const u = matmul(ctx, hd, pair.A, null); // [T, r]
  axpy(ctx, y, matmul(ctx, u, pair.B, null), s);
  return { y, u };
}

/**
 * dH for y = project(h): dY·W (+ s·drop'((dY·B)·A)), adding s·dYᵀ·u to dB and s·(dY·B)ᵀ·drop(h) to dA;
 * drop(h) and drop' use the forward's mask, recomputed from its key.
 */
function projectBackward(
  ctx: GpuContext,
  dy: Tensor,
  h: Tensor,
  w: LinearWeight,
  pair: LoraPair | undefined,
  u: Tensor | null,
  s: number,
  drop: LoraDropout | null,
): Tensor {
  // A 4-bit base: a temporary plain copy of this one projection, released on return.
  const dh = isQuantized(w)
    ? ctx.tidy(() => matmulBackwardInput(ctx, dy, dequantizeQ4(ctx, w, ctx.actDtype as 'f32' | 'f16')))
    : matmulBackwardInput(ctx, dy, w);
  if (!pair || !u) return dh;
  const dyB = matmulBackwardInput(ctx, dy, pair.B); // [T, r]
  const dhd = matmulBackwardInput(ctx, dyB, pair.A); // [T, in] f32, d drop(h)
  axpy(ctx, dh, drop ? dropoutBackward(ctx, dhd, drop.p, drop.key) : dhd, s);
  axpy(ctx, pair.dB, matmulBackwardWeight(ctx, dy, u), s);
  const hd = drop ? dropout(ctx, h, drop.p, drop.key) : h;
  axpy(ctx, pair.dA, matmulBackwardWeight(ctx, dyB, hd), s);
  return dh;
}

/**
 * Stacks sequences' inputs x0 [T_b, C] for backwardBatch: each padded with zero rows to the longest
 * (padding last, where causal attention hides it), then concatenated [B·T, C]; each sequence's
 * first predicting row shifted to its place in the stack. One sequence is returned as it is.
 */
export function stackInputs(
  ctx: GpuContext,
  seqs: readonly { x0: Tensor; first: number; targets: readonly number[] }[],
): { x0: Tensor; B: number; T: number; segments: Segment[] } {
  const T = Math.max(...seqs.map((s) => s.x0.shape[0]));
  const segments = seqs.map((s, b) => ({ first: b * T + s.first, targets: s.targets }));
  if (seqs.length === 1) return { x0: seqs[0].x0, B: 1, T, segments };
  const C = seqs[0].x0.shape[1];
  const { dtype } = seqs[0].x0;
  // One zero-filled upload, each sequence copied to the start of its T rows.
  const x0 = ctx.upload(
    dtype === 'f16' ? new Uint16Array(seqs.length * T * C) : new Float32Array(seqs.length * T * C),
    [seqs.length * T, C],
    dtype,
  );
  const rowBytes = seqs[0].x0.byteLength / seqs[0].x0.shape[0];
  for (const [b, s] of seqs.entries()) ctx.copyRegion(s.x0, 0, x0, b * T * rowBytes, s.x0.byteLength);
  return { x0, B: seqs.length, T, segments };
}

/** The segments' log-probs, concatenated in `all`, one array each. */
function splitSegments(all: Float32Array, segments: readonly Segment[]): Float32Array[] {
  const out: Float32Array[] = [];
  for (let at = 0, b = 0; b < segments.length; at += segments[b].targets.length, b++)
    out.push(all.slice(at, at + segments[b].targets.length));
  return out;
}

/** Positions of B stacked sequences of T: 0…T−1, B times. */
function positions(ctx: GpuContext, T: number, B = 1): Tensor {
  return ctx.upload(
    Uint32Array.from({ length: B * T }, (_, i) => i % T),
    [B * T],
    'u32',
  );
}

/** Rows (output features) of a Linear weight or table part. */
function rowCount(w: LinearWeight): number {
  return isQuantized(w) ? w.N : w.shape[0];
}

/** Columns [from, from + n) of x [R, V] as a new [R, n] tensor (a copy per row). */
function cols(ctx: GpuContext, x: Tensor, from: number, n: number): Tensor {
  const [R, V] = x.shape;
  if (from === 0 && n === V) return x;
  const elem = x.byteLength / x.size;
  const out = ctx.empty([R, n], x.dtype);
  for (let r = 0; r < R; r++) ctx.copyRegion(x, (r * V + from) * elem, out, r * n * elem, n * elem);
  return out;
}

/** Rows [from, from + n) of a 4-bit weight as its own 4-bit weight (a copy). */
function sliceQ4Rows(ctx: GpuContext, q: QTensor, from: number, n: number): QTensor {
  const L = layoutOf(q);
  // Scales are copied as whole bytes; f16 scale rows must start and end on 4-byte boundaries.
  if (L.scaleDtype === 'f16' && ((from * L.groups) % 2 || (n * L.groups) % 2))
    throw new Error(
      `training: 4-bit rows ${from}…${from + n} split an f16 scale pair (${L.groups} groups a row)`,
    );
  const cut = (t: Tensor) => sliceRows(ctx, t, from, from + n);
  return {
    ...q,
    packed: cut(q.packed),
    scales: cut(q.scales),
    ...(q.mins ? { mins: cut(q.mins) } : {}),
    N: n,
  };
}

/**
 * The loader's fused q/k/v and gate/up split back into per-projection copies (by rows), plain or 4-bit;
 * o and down copied when plain (mergeInto writes the model's plain weights).
 */
function splitLayer(ctx: GpuContext, w: WeightScope, qRows: number, kvRows: number, I: number): LayerWeights {
  const qkv = w.linear(`${FUSED.qkv.name}.weight`);
  const qkvBias = w.get(`${FUSED.qkv.name}.bias`);
  const gateUp = w.linear(`${FUSED.gateUp.name}.weight`);
  const rows = <W extends LinearWeight>(t: W, from: number, n: number): W =>
    (isQuantized(t) ? sliceQ4Rows(ctx, t, from, n) : sliceRows(ctx, t, from, from + n)) as W;
  // Plain projections are copies (the policy's own): merging an adapter into the inference weights must
  // not move the frozen base. 4-bit weights are never written, so o and down are the model's own.
  const own = (name: string) => {
    const lw = w.linear(name);
    return isQuantized(lw) ? lw : copy(ctx, lw);
  };
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
