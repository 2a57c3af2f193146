/**
 * The group resampler (src/model/resampler.ts) as the trainer runs it: the same forward, chunk by
 * chunk, keeping what the backward needs, and the backward of every connector weight given
 * d(visual tokens). Letters as the forward's: N vision tokens (all frames), Cv vision width, C text
 * width, n tokens of a chunk, Q latents per chunk, H heads, Dh head dim, I = H·Dh, F the FFN width.
 *
 * The trainable tensors are the inference model's own (plain f32): an optimizer step moves the
 * model the app runs. to_kv is trained as its two halves to_k / to_v, the form the loader derives.
 * The sinusoidal positions are constant; the vision features are an input (the tower is frozen).
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
import { isQuantized } from '../model/gpu-weights';
import { concatRows, sliceRows } from '../model/layers';
import { chunkSizes } from '../model/positional';
import type { TinyLlavaVideo } from '../model/tinyllava';
import { PREFIX } from '../model/weight-manifest';
import { type Param, zeroTensors } from './params';

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

/** One perceiver layer's saved values: its input latents, and the feed-forward's input. */
interface LayerActs {
  latIn: Tensor; // [Q, C]
  ffIn: Tensor; // [Q, C]
}

/** One chunk's forward record (recomputed in the backward, one chunk at a time). */
interface ChunkActs {
  layers: LayerActs[];
  out: Tensor; // [Q, C] before the final norm
  y: Tensor; // [Q, C] normalized
}

export class ConnectorTrainer {
  readonly c: ConnectorConfig;
  readonly params: Param[];
  private readonly p: Map<string, Tensor>;
  private readonly g: Map<string, Tensor>;
  private readonly pe: Tensor;

  constructor(
    private readonly ctx: GpuContext,
    model: TinyLlavaVideo,
  ) {
    this.c = model.config.connector;
    const w = model.weights.scope(PREFIX.connector);
    this.p = new Map();
    this.g = new Map();
    this.params = connectorParamNames(this.c).map((name) => {
      const t = w.linear(name);
      if (isQuantized(t) || t.dtype !== 'f32')
        throw new Error(
          `training the connector needs f32 weights, but ${name} is not: load them plain in f32`,
        );
      const g = ctx.upload(new Float32Array(t.size), t.shape, 'f32');
      this.p.set(name, t);
      this.g.set(name, g);
      return { name: PREFIX.connector + name, p: t, g };
    });
    this.pe = w.get('position_encoding');
  }

  /** The gradient accumulated for `name` (under the connector's prefix). */
  grad(name: string): Tensor {
    return this.g.get(name)!;
  }

  zeroGrads(): void {
    zeroTensors(
      this.ctx,
      this.params.map((q) => q.g),
    );
  }

  /** features [F, P', Cv] → visual tokens [numQueries, C], the model's connector recomputed here. */
  forward(features: Tensor): Tensor {
    const { ctx } = this;
    return ctx.tidy(() => {
      const x = this.project(features);
      const outs: Tensor[] = [];
      this.eachChunk(x, (chunk) => outs.push(this.chunkForward(chunk).y));
      const out = concatRows(ctx, outs);
      return add(ctx, out, this.pe, out);
    });
  }

  /** Adds d(weights) for upstream dTokens [numQueries, C] (f32) to the gradients; the features get none. */
  backward(features: Tensor, dTokens: Tensor): void {
    const { ctx, c } = this;
    const Q = c.latentsPerGroup;
    ctx.tidy(() => {
      const x = this.project(features); // [N, C]
      const [N, C] = x.shape;
      const dx = ctx.empty([N, C], 'f32'); // every row is written by its chunk
      let chunkIndex = 0;
      this.eachChunk(x, (chunk, offset) => {
        const j = chunkIndex++;
        ctx.tidy(() => {
          // The positions are added after the concat: dTokens' rows pass to each chunk unchanged.
          const dY = sliceRows(ctx, dTokens, j * Q, (j + 1) * Q);
          const dChunk = this.chunkBackward(chunk, this.chunkForward(chunk), dY);
          ctx.copyRegion(dChunk, 0, dx, offset * C * 4, dChunk.byteLength);
        });
      });
      // x = features·Wᵀ + b
      const f = features.view([N, features.size / N]);
      axpy(ctx, this.g.get('linear.weight')!, matmulBackwardWeight(ctx, dx, f), 1);
      axpy(ctx, this.g.get('linear.bias')!, matmulBackwardBias(ctx, dx), 1);
    });
  }

  /** features [F, P', Cv] → x [N, C]. */
  private project(features: Tensor): Tensor {
    const Cv = features.shape[features.shape.length - 1];
    const N = features.size / Cv;
    return matmul(this.ctx, features.view([N, Cv]), this.p.get('linear.weight')!, this.p.get('linear.bias')!);
  }

  /** Calls fn for each chunk of x (a copy of its rows) with its first row, as the forward cuts them. */
  private eachChunk(x: Tensor, fn: (chunk: Tensor, offset: number) => void): void {
    let offset = 0;
    for (const n of chunkSizes(x.shape[0], this.c.group)) {
      fn(sliceRows(this.ctx, x, offset, offset + n), offset);
      offset += n;
    }
  }

  private w(name: string): Tensor {
    return this.p.get(name)!;
  }

  /** chunk [n, C] → its Q latents, keeping each layer's input latents. */
  private chunkForward(chunk: Tensor): ChunkActs {
    const { ctx, c } = this;
    const layers: LayerActs[] = [];
    let lat = sliceRows(ctx, this.w('latents'), 0, c.latentsPerGroup); // [Q, C]
    for (let l = 0; l < c.layers; l++) {
      const latIn = lat;
      const attn = this.attentionForward(l, chunk, latIn);
      const ffIn = add(ctx, latIn, matmul(ctx, attn.a, this.w(`layers.${l}.0.to_out.weight`), null));
      lat = add(ctx, ffIn, this.feedForward(l, ffIn).y);
      layers.push({ latIn, ffIn });
    }
    const y = layernorm(ctx, lat, this.w('norm.weight'), this.w('norm.bias'), c.eps);
    return { layers, out: lat, y };
  }

  /** Perceiver attention of layer l up to before to_out: a [Q, I], with its inputs. */
  private attentionForward(l: number, chunk: Tensor, lat: Tensor) {
    const { ctx, c } = this;
    const p = `layers.${l}.0.`;
    const Q = lat.shape[0];
    const n = chunk.shape[0];
    const { heads: H, dimHead: Dh } = c;
    const media = layernorm(
      ctx,
      chunk,
      this.w(`${p}norm_media.weight`),
      this.w(`${p}norm_media.bias`),
      c.eps,
    );
    const latN = layernorm(
      ctx,
      lat,
      this.w(`${p}norm_latents.weight`),
      this.w(`${p}norm_latents.bias`),
      c.eps,
    );
    const kvIn = concatRows(ctx, [media, latN]); // [n + Q, C]
    const q = matmul(ctx, latN, this.w(`${p}to_q.weight`), null).view([Q, H, Dh]);
    const k = matmul(ctx, kvIn, this.w(`${p}to_k.weight`), null).view([n + Q, H, Dh]);
    const v = matmul(ctx, kvIn, this.w(`${p}to_v.weight`), null).view([n + Q, H, Dh]);
    const a = attention(ctx, q, k, v, { causal: false, scale: 1 / Math.sqrt(Dh) }).view([Q, H * Dh]);
    return { latN, kvIn, q, k, v, a };
  }

  /** The feed-forward branch of layer l: y = W₃·gelu(W₁·LayerNorm(lat)), with h and up. */
  private feedForward(l: number, lat: Tensor) {
    const { ctx, c } = this;
    const p = `layers.${l}.1.`;
    const h = layernorm(ctx, lat, this.w(`${p}0.weight`), this.w(`${p}0.bias`), c.eps); // [Q, C]
    const up = matmul(ctx, h, this.w(`${p}1.weight`), null); // [Q, F]
    const act = gelu(ctx, up, 'erf');
    return { h, up, act, y: matmul(ctx, act, this.w(`${p}3.weight`), null) };
  }

  /** The forward of one chunk in reverse: dY [Q, C] → dChunk [n, C], adding the weights' gradients. */
  private chunkBackward(chunk: Tensor, f: ChunkActs, dY: Tensor): Tensor {
    const { ctx, c } = this;
    const acc = (name: string, d: Tensor) => axpy(ctx, this.g.get(name)!, d, 1);
    const { heads: H, dimHead: Dh } = c;
    const n = chunk.shape[0];
    const Q = c.latentsPerGroup;
    // y = LayerNorm(out)
    const fin = layernormBackward(ctx, dY, f.out, this.w('norm.weight'), c.eps);
    acc('norm.weight', fin.dW);
    acc('norm.bias', fin.dB);
    const dLat = fin.dX; // [Q, C], flows down the residual stream
    let dChunk: Tensor | null = null;
    for (let l = c.layers - 1; l >= 0; l--) {
      const { latIn, ffIn } = f.layers[l];
      // lat = ffIn + W₃·gelu(W₁·LN(ffIn))
      const fp = `layers.${l}.1.`;
      const ff = this.feedForward(l, ffIn);
      acc(`${fp}3.weight`, matmulBackwardWeight(ctx, dLat, ff.act));
      const dUp = geluBackward(ctx, matmulBackwardInput(ctx, dLat, this.w(`${fp}3.weight`)), ff.up, 'erf');
      acc(`${fp}1.weight`, matmulBackwardWeight(ctx, dUp, ff.h));
      const ln = layernormBackward(
        ctx,
        matmulBackwardInput(ctx, dUp, this.w(`${fp}1.weight`)),
        ffIn,
        this.w(`${fp}0.weight`),
        c.eps,
      );
      acc(`${fp}0.weight`, ln.dW);
      acc(`${fp}0.bias`, ln.dB);
      axpy(ctx, dLat, ln.dX, 1);
      // ffIn = latIn + W_o·attention(q(LN(latIn)), k(kvIn), v(kvIn)), kvIn = [LN(chunk); LN(latIn)]
      const ap = `layers.${l}.0.`;
      const at = this.attentionForward(l, chunk, latIn);
      acc(`${ap}to_out.weight`, matmulBackwardWeight(ctx, dLat, at.a));
      const da = matmulBackwardInput(ctx, dLat, this.w(`${ap}to_out.weight`)).view([Q, H, Dh]);
      const g = attentionBackward(ctx, da, at.q, at.k, at.v, { causal: false, scale: 1 / Math.sqrt(Dh) });
      const dq = g.dQ.view([Q, H * Dh]);
      const dk = g.dK.view([n + Q, H * Dh]);
      const dv = g.dV.view([n + Q, H * Dh]);
      acc(`${ap}to_q.weight`, matmulBackwardWeight(ctx, dq, at.latN));
      acc(`${ap}to_k.weight`, matmulBackwardWeight(ctx, dk, at.kvIn));
      acc(`${ap}to_v.weight`, matmulBackwardWeight(ctx, dv, at.kvIn));
      const dKvIn = matmulBackwardInput(ctx, dk, this.w(`${ap}to_k.weight`)); // [n + Q, C]
      axpy(ctx, dKvIn, matmulBackwardInput(ctx, dv, this.w(`${ap}to_v.weight`)), 1);
      const dLatN = sliceRows(ctx, dKvIn, n, n + Q);
      axpy(ctx, dLatN, matmulBackwardInput(ctx, dq, this.w(`${ap}to_q.weight`)), 1);
      const lnL = layernormBackward(ctx, dLatN, latIn, this.w(`${ap}norm_latents.weight`), c.eps);
      acc(`${ap}norm_latents.weight`, lnL.dW);
      acc(`${ap}norm_latents.bias`, lnL.dB);
      axpy(ctx, dLat, lnL.dX, 1);
      const lnM = layernormBackward(
        ctx,
        sliceRows(ctx, dKvIn, 0, n),
        chunk,
        this.w(`${ap}norm_media.weight`),
        c.eps,
      );
      acc(`${ap}norm_media.weight`, lnM.dW);
      acc(`${ap}norm_media.bias`, lnM.dB);
      if (dChunk) axpy(ctx, dChunk, lnM.dX, 1);
      else dChunk = lnM.dX;
    }
    // lat₀ = latents[0..Q)
    const dLatents = this.g.get('latents')!;
    if (dLatents.shape[0] === Q) axpy(ctx, dLatents, dLat, 1);
    else {
      const rows = sliceRows(ctx, dLatents, 0, Q);
      axpy(ctx, rows, dLat, 1);
      ctx.copyRegion(rows, 0, dLatents, 0, rows.byteLength);
    }
    if (!dChunk) throw new Error('connector backward: no resampler layers');
    return dChunk;
  }

  destroy(): void {
    for (const { g } of this.params) this.ctx.release(g);
  }
}
