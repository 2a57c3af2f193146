import type { GpuContext } from '../gpu/context';
import { gelu } from '../gpu/kernels/activations';
import { add } from '../gpu/kernels/add';
import { attention } from '../gpu/kernels/attention/attention';
import { layernorm } from '../gpu/kernels/layernorm';
import type { Tensor } from '../gpu/tensor';
import type { ConnectorConfig } from './config';
import type { WeightScope } from './gpu-weights';
import { concatRows, linear, project, sliceRows } from './layers';
import { chunkSizes } from './positional';

/**
 * The group resampler connector (MODEL.md "Connector"). Letters: N vision tokens (all frames), Cv
 * vision width, C text width, Q latents per chunk, I = heads·dimHead (512), H heads, Dh head dim.
 * Expects the load-time derived weights `layers.L.0.to_k.weight` / `to_v.weight` (the halves of
 * to_kv) and `position_encoding` [numQueries, C] (see prepareConnectorWeights).
 */
export function resamplerForward(
  ctx: GpuContext,
  w: WeightScope,
  c: ConnectorConfig,
  features: Tensor,
): Tensor {
  const Cv = features.shape[features.shape.length - 1];
  const N = features.size / Cv;
  return ctx.tidy(() => {
    const x = linear(ctx, features.view([N, Cv]), w, 'linear'); // [N, C]
    const outputs: Tensor[] = [];
    let offset = 0;
    for (const n of chunkSizes(N, c.group)) {
      outputs.push(ctx.tidy(() => resampleChunk(ctx, w, c, sliceRows(ctx, x, offset, offset + n)))); // [Q, C]
      offset += n;
    }
    const out = concatRows(ctx, outputs); // [numQueries, C]
    return add(ctx, out, w.get('position_encoding'), out); // out += position encoding
  });
}

/** chunk [n, C] → its Q latents [Q, C], normalized: the learned latents attend to the chunk, layer by layer. */
function resampleChunk(ctx: GpuContext, w: WeightScope, c: ConnectorConfig, chunk: Tensor): Tensor {
  const lat = sliceRows(ctx, w.get('latents'), 0, c.latentsPerGroup); // [Q, C], a copy updated in place
  for (let l = 0; l < c.layers; l++) {
    perceiverAttention(ctx, w.scope(`layers.${l}.0.`), c, chunk, lat);
    feedForward(ctx, w.scope(`layers.${l}.1.`), c, lat);
  }
  return layernorm(ctx, lat, w.get('norm.weight'), w.get('norm.bias'), c.eps);
}

/** lat [Q, C] += to_out(attention(q, k, v)): queries from the latents, keys and values from chunk and latents. */
function perceiverAttention(
  ctx: GpuContext,
  w: WeightScope,
  c: ConnectorConfig,
  chunk: Tensor,
  lat: Tensor,
): void {
  const Q = lat.shape[0];
  const n = chunk.shape[0];
  const { heads: H, dimHead: Dh } = c;
  ctx.tidy(() => {
    const media = layernorm(ctx, chunk, w.get('norm_media.weight'), w.get('norm_media.bias'), c.eps); // [n, C]
    const latN = layernorm(ctx, lat, w.get('norm_latents.weight'), w.get('norm_latents.bias'), c.eps); // [Q, C]
    const q = project(ctx, latN, w.linear('to_q.weight'), null).view([Q, H, Dh]);
    const kvIn = concatRows(ctx, [media, latN]); // [n + Q, C]: keys see the chunk's tokens and the latents
    const k = project(ctx, kvIn, w.linear('to_k.weight'), null).view([n + Q, H, Dh]);
    const v = project(ctx, kvIn, w.linear('to_v.weight'), null).view([n + Q, H, Dh]);
    const a = attention(ctx, q, k, v, { causal: false, scale: 1 / Math.sqrt(Dh) }); // [Q, H, Dh]
    add(ctx, lat, project(ctx, a.view([Q, H * Dh]), w.linear('to_out.weight'), null), lat);
  });
}

/** lat [Q, C] += W₃·gelu(W₁·LayerNorm(lat)). */
function feedForward(ctx: GpuContext, w: WeightScope, c: ConnectorConfig, lat: Tensor): void {
  ctx.tidy(() => {
    const h = layernorm(ctx, lat, w.get('0.weight'), w.get('0.bias'), c.eps); // [Q, C]
    const up = project(ctx, h, w.linear('1.weight'), null); // [Q, 4C]
    add(ctx, lat, project(ctx, gelu(ctx, up, 'erf'), w.linear('3.weight'), null), lat);
  });
}
