/**
 * The group resampler (src/model/resampler.ts) as the trainer runs it: the same forward, chunk by
 * chunk, keeping what the backward needs, and the backward of every connector weight given
 * d(visual tokens). Letters as the forward's: N vision tokens (all frames), Cv vision width, C text
 * width, n tokens of a chunk, Q latents per chunk, H heads, Dh head dim, I = H·Dh, F the FFN width.
 *
 * The trainable tensors are the inference model's own (plain f32): an optimizer step moves the
 * model the app runs. to_kv is trained as its two halves to_k / to_v, the form the loader derives.
 * The sinusoidal positions are constant; the vision features are an input (frozen tower), or get
 * their gradient for the tower's trainer (src/rl-lite/vision.ts).
 */
import type { GpuContext } from '../gpu/context';
import { gelu, geluBackward } from '../gpu/kernels/activations';
import { add, axpy } from '../gpu/kernels/add';
import { attention, attentionBackward } from '../gpu/kernels/attention/attention';
import { layernorm, layernormBackward } from '../gpu/kernels/layernorm';
import { matmul } from '../gpu/kernels/matmul/matmul';
import {
  matmulBackwardBias,
  matmulBackwardInput,
  matmulBackwardWeight,
} from '../gpu/kernels/matmul/matmul-backward';
import type { Tensor } from '../gpu/tensor';
import type { ConnectorConfig } from '../model/config';
import { sliceRows } from '../model/layers';
import { chunkSizes } from '../model/positional';
import type { TinyLlavaVideo } from '../model/tinyllava';
import { PREFIX } from '../model/weight-manifest';
import { type Param, ScopeParams } from './params';

/** Names (under the connector's prefix) of every trainable tensor, in a fixed order. */
export function connectorParamNames(c: ConnectorConfig): string[] {
  const names = ['linear.weight', 'linear.bias', 'latents'];
  for (let l = 0; l < c.layers; l++) {
    const a = `layers.${l}.0.`;
    const f = `layers.${l}.1.`;
    names.push(
      ...['norm_media.weight', 'norm_media.bias', 'norm_latents.weight', 'norm_latents.bias'].map(
        (n) => a + n,
      ),
      ...['to_q.weight', 'to_k.weight', 'to_v.weight', 'to_out.weight'].map((n) => a + n),
      ...['0.weight', '0.bias', '1.weight', '3.weight'].map((n) => f + n),
    );
  }
  names.push('norm.weight', 'norm.bias');
  return names;
}

/** What one layer's backward needs of its forward, for a batch of B chunks of n tokens. */
interface LayerActs {
  latIn: Tensor; // [B, Q, C] the layer's input latents
  latN: Tensor; // [B, Q, C] LayerNorm(latIn)
  kvIn: Tensor; // [B, n + Q, C] [LayerNorm(chunk); latN]
  q: Tensor; // [B, Q, H, Dh]
  k: Tensor; // [B, n + Q, H, Dh]
  v: Tensor; // [B, n + Q, H, Dh]
  a: Tensor; // [B, Q, I] attention output
  ffIn: Tensor; // [B, Q, C] latents after the attention's residual
  h: Tensor; // [B, Q, C] LayerNorm(ffIn)
  up: Tensor; // [B, Q, F]
  act: Tensor; // [B, Q, F] gelu(up)
}

/** The forward of B equal-size chunks at once (the batch dimension of every kernel). */
interface ChunkActs {
  layers: LayerActs[];
  out: Tensor; // [B, Q, C] before the final norm
  y: Tensor; // [B, Q, C] normalized
}

/** Chunks of one size, consecutive in the token sequence: chunkSizes gives at most two sizes. */
interface ChunkBatch {
  first: number; // index of the first chunk
  B: number; // chunks
  n: number; // tokens a chunk
  offset: number; // first token row
}

function chunkBatches(N: number, group: number): ChunkBatch[] {
  const out: ChunkBatch[] = [];
  let offset = 0;
  for (const [j, n] of chunkSizes(N, group).entries()) {
    const last = out[out.length - 1];
    if (last && last.n === n) last.B++;
    else out.push({ first: j, B: 1, n, offset });
    offset += n;
  }
  return out;
}

/** [B, n, C] and [B, Q, C] → [B, n + Q, C], each chunk's rows followed by its latents. */
function concatPerChunk(ctx: GpuContext, a: Tensor, b: Tensor): Tensor {
  const [B, n, C] = a.shape;
  const Q = b.shape[1];
  const e = a.byteLength / a.size;
  const out = ctx.empty([B, n + Q, C], a.dtype);
  for (let i = 0; i < B; i++) {
    ctx.copyRegion(a, i * n * C * e, out, i * (n + Q) * C * e, n * C * e);
    ctx.copyRegion(b, i * Q * C * e, out, (i * (n + Q) + n) * C * e, Q * C * e);
  }
  return out;
}

/** Rows [from, to) of every chunk of x [B, m, C] → [B, to − from, C]. */
function rowsPerChunk(ctx: GpuContext, x: Tensor, from: number, to: number): Tensor {
  const [B, m, C] = x.shape;
  const e = x.byteLength / x.size;
  const out = ctx.empty([B, to - from, C], x.dtype);
  for (let i = 0; i < B; i++)
    ctx.copyRegion(x, (i * m + from) * C * e, out, i * (to - from) * C * e, (to - from) * C * e);
  return out;
}

export class ConnectorTrainer {
  readonly c: ConnectorConfig;
  readonly params: Param[];
  private readonly weights: ScopeParams;
  private readonly pe: Tensor;

  constructor(
    private readonly ctx: GpuContext,
    model: TinyLlavaVideo,
  ) {
    this.c = model.config.connector;
    const w = model.weights.scope(PREFIX.connector);
    this.weights = new ScopeParams(ctx, w, connectorParamNames(this.c), 'the connector');
    this.params = this.weights.params;
    this.pe = w.get('position_encoding');
  }

  /** The gradient accumulated for `name` (under the connector's prefix). */
  grad(name: string): Tensor {
    return this.weights.grad(name);
  }

  zeroGrads(): void {
    this.weights.zeroGrads();
  }

  /** features [F, P', Cv] → visual tokens [numQueries, C], the model's connector recomputed here. */
  forward(features: Tensor): Tensor {
    const { ctx, c } = this;
    return ctx.tidy(() => {
      const x = this.project(features); // [N, C]
      const out = ctx.empty([c.numQueries, c.dim], x.dtype);
      for (const b of chunkBatches(x.shape[0], c.group)) {
        const y = this.chunkForward(this.chunks(x, b)).y; // [B, Q, C]
        ctx.copyRegion(y, 0, out, (b.first * y.byteLength) / b.B, y.byteLength);
      }
      return add(ctx, out, this.pe, out);
    });
  }

  /**
   * Adds d(weights) for upstream dTokens [numQueries, C] (f32) to the gradients. With `inputGrad`
   * returns d(features) [F, P', Cv] too (f32, for training the vision tower), else null.
   */
  backward(features: Tensor, dTokens: Tensor, inputGrad = false): Tensor | null {
    const { ctx, c } = this;
    const Q = c.latentsPerGroup;
    return ctx.tidy(() => {
      const x = this.project(features); // [N, C]
      const [N, C] = x.shape;
      const dx = ctx.empty([N, C], 'f32'); // every row is written by its chunk
      for (const b of chunkBatches(N, c.group)) {
        ctx.tidy(() => {
          // The positions are added after the concat: dTokens' rows pass to each chunk unchanged.
          const dY = sliceRows(ctx, dTokens, b.first * Q, (b.first + b.B) * Q).view([b.B, Q, C]);
          const chunk = this.chunks(x, b);
          const dChunk = this.chunkBackward(chunk, this.chunkForward(chunk), dY); // [B, n, C]
          ctx.copyRegion(dChunk, 0, dx, b.offset * C * 4, dChunk.byteLength);
        });
      }
      // x = features·Wᵀ + b
      const f = features.view([N, features.size / N]);
      axpy(ctx, this.weights.grad('linear.weight'), matmulBackwardWeight(ctx, dx, f), 1);
      axpy(ctx, this.weights.grad('linear.bias'), matmulBackwardBias(ctx, dx), 1);
      return inputGrad ? matmulBackwardInput(ctx, dx, this.w('linear.weight')).view(features.shape) : null;
    });
  }

  /** features [F, P', Cv] → x [N, C]. */
  private project(features: Tensor): Tensor {
    const Cv = features.shape[features.shape.length - 1];
    const N = features.size / Cv;
    return matmul(this.ctx, features.view([N, Cv]), this.w('linear.weight'), this.w('linear.bias'));
  }

  /** The batch's chunks of x: [B, n, C] (a copy of consecutive rows). */
  private chunks(x: Tensor, b: ChunkBatch): Tensor {
    return sliceRows(this.ctx, x, b.offset, b.offset + b.B * b.n).view([b.B, b.n, x.shape[1]]);
  }

  private w(name: string): Tensor {
    return this.weights.weight(name);
  }

  /** chunks [B, n, C] → their Q latents each, keeping what the backward needs. */
  private chunkForward(chunk: Tensor): ChunkActs {
    const { ctx, c } = this;
    const [B, n, C] = chunk.shape;
    const { latentsPerGroup: Q, heads: H, dimHead: Dh } = c;
    const ln = (x: Tensor, name: string) =>
      layernorm(ctx, x, this.w(`${name}.weight`), this.w(`${name}.bias`), c.eps);
    const mm = (x: Tensor, name: string) => matmul(ctx, x, this.w(`${name}.weight`), null);
    const layers: LayerActs[] = [];
    // The learned latents, one copy per chunk: [B, Q, C]
    let lat = ctx.empty([B, Q, C], chunk.dtype);
    const latents = this.w('latents');
    for (let i = 0; i < B; i++) ctx.copyRegion(latents, 0, lat, (i * lat.byteLength) / B, lat.byteLength / B);
    for (let l = 0; l < c.layers; l++) {
      const a0 = `layers.${l}.0.`;
      const f1 = `layers.${l}.1.`;
      const latIn = lat;
      // Perceiver attention: queries from the latents, keys and values from the chunk and the latents.
      const latN = ln(latIn, `${a0}norm_latents`);
      const kvIn = concatPerChunk(ctx, ln(chunk, `${a0}norm_media`), latN); // [B, n + Q, C]
      const q = mm(latN, `${a0}to_q`).view([B, Q, H, Dh]);
      const k = mm(kvIn, `${a0}to_k`).view([B, n + Q, H, Dh]);
      const v = mm(kvIn, `${a0}to_v`).view([B, n + Q, H, Dh]);
      const a = attention(ctx, q, k, v, { causal: false, scale: 1 / Math.sqrt(Dh) }).view([B, Q, H * Dh]);
      const ffIn = add(ctx, latIn, mm(a, `${a0}to_out`));
      // Feed-forward: W₃·gelu(W₁·LayerNorm(ffIn)), erf GELU.
      const h = ln(ffIn, `${f1}0`);
      const up = mm(h, `${f1}1`);
      const act = gelu(ctx, up, 'erf');
      lat = add(ctx, ffIn, mm(act, `${f1}3`));
      layers.push({ latIn, latN, kvIn, q, k, v, a, ffIn, h, up, act });
    }
    return { layers, out: lat, y: ln(lat, 'norm') };
  }

  /** The forward of the chunks in reverse: dY [B, Q, C] → dChunk [B, n, C], adding the weights' gradients. */
  private chunkBackward(chunk: Tensor, f: ChunkActs, dY: Tensor): Tensor {
    const { ctx, c } = this;
    const [B, n, C] = chunk.shape;
    const { latentsPerGroup: Q, heads: H, dimHead: Dh } = c;
    const acc = (name: string, d: Tensor) => axpy(ctx, this.weights.grad(name), d, 1);
    /** LayerNorm `name`'s backward: adds dW, dB; returns dX. */
    const lnBack = (dy: Tensor, x: Tensor, name: string) => {
      const r = layernormBackward(ctx, dy, x, this.w(`${name}.weight`), c.eps);
      acc(`${name}.weight`, r.dW);
      acc(`${name}.bias`, r.dB);
      return r.dX;
    };
    /** y = x·Wᵀ: adds dW = dYᵀ·x; returns dX = dY·W. */
    const mmBack = (dy: Tensor, x: Tensor, name: string) => {
      acc(`${name}.weight`, matmulBackwardWeight(ctx, dy, x));
      return matmulBackwardInput(ctx, dy, this.w(`${name}.weight`));
    };
    const dLat = lnBack(dY, f.out, 'norm'); // [B, Q, C], flows down the residual stream
    let dChunk: Tensor | null = null;
    for (let l = c.layers - 1; l >= 0; l--) {
      const a0 = `layers.${l}.0.`;
      const f1 = `layers.${l}.1.`;
      const L = f.layers[l];
      // lat = ffIn + W₃·gelu(W₁·LN(ffIn))
      const dUp = geluBackward(ctx, mmBack(dLat, L.act, `${f1}3`), L.up, 'erf');
      axpy(ctx, dLat, lnBack(mmBack(dUp, L.h, `${f1}1`), L.ffIn, `${f1}0`), 1);
      // ffIn = latIn + W_o·attention(q(latN), k(kvIn), v(kvIn))
      const da = mmBack(dLat, L.a, `${a0}to_out`).view([B, Q, H, Dh]);
      const g = attentionBackward(ctx, da, L.q, L.k, L.v, { causal: false, scale: 1 / Math.sqrt(Dh) });
      const dKvIn = mmBack(g.dK.view([B, n + Q, H * Dh]), L.kvIn, `${a0}to_k`); // [B, n + Q, C]
      axpy(ctx, dKvIn, mmBack(g.dV.view([B, n + Q, H * Dh]), L.kvIn, `${a0}to_v`), 1);
      const dLatN = rowsPerChunk(ctx, dKvIn, n, n + Q); // [B, Q, C]
      axpy(ctx, dLatN, mmBack(g.dQ.view([B, Q, H * Dh]), L.latN, `${a0}to_q`), 1);
      axpy(ctx, dLat, lnBack(dLatN, L.latIn, `${a0}norm_latents`), 1);
      const dMedia = lnBack(rowsPerChunk(ctx, dKvIn, 0, n), chunk, `${a0}norm_media`); // [B, n, C]
      if (dChunk) axpy(ctx, dChunk, dMedia, 1);
      else dChunk = dMedia;
    }
    // lat₀ = latents for every chunk: dLatents = Σ over the chunks (column sums of [B, Q·C])
    axpy(ctx, this.weights.grad('latents').view([Q * C]), matmulBackwardBias(ctx, dLat.view([B, Q * C])), 1);
    if (!dChunk) throw new Error('connector backward: no resampler layers');
    return dChunk;
  }

  destroy(): void {
    this.weights.destroy();
  }
}
