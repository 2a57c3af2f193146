import type { GpuContext } from '../gpu/context';
import { gelu } from '../gpu/kernels/activations';
import { add } from '../gpu/kernels/add';
import { attention } from '../gpu/kernels/attention/attention';
import { layernorm } from '../gpu/kernels/layernorm';
import type { Tensor } from '../gpu/tensor';
import type { ConnectorConfig } from './config';
import type { WeightScope } from './gpu-weights';
import { addAndRelease, concatRows, linear, project, sliceRows } from './layers';
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
  const x = linear(ctx, features.view([N, Cv]), w, 'linear'); // [N, C]
  const outputs: Tensor[] = [];
  let offset = 0;
  for (const size of chunkSizes(N, c.group)) {
    const chunk = sliceRows(ctx, x, offset, offset + size); // [n, C]
    offset += size;
    let lat = sliceRows(ctx, w.get('latents'), 0, c.latentsPerGroup); // [Q, C], a copy updated in place
    for (let l = 0; l < c.layers; l++) {
      lat = perceiverAttention(ctx, w.scope(`layers.${l}.0.`), c, chunk, lat);
      lat = feedForward(ctx, w.scope(`layers.${l}.1.`), c, lat);
    }
    outputs.push(layernorm(ctx, lat, w.get('norm.weight'), w.get('norm.bias'), c.eps));
    ctx.release(chunk, lat);
  }
  ctx.release(x);
  const out = concatRows(ctx, outputs); // [numQueries, C]
  ctx.release(...outputs);
  add(ctx, out, w.get('position_encoding'), out);
  return out;
}

function perceiverAttention(
  ctx: GpuContext,
  w: WeightScope,
  c: ConnectorConfig,
  chunk: Tensor,
  lat: Tensor,
): Tensor {
  const Q = lat.shape[0];
  const n = chunk.shape[0];
  const { heads: H, dimHead: Dh } = c;
  const media = layernorm(ctx, chunk, w.get('norm_media.weight'), w.get('norm_media.bias'), c.eps);
  const latN = layernorm(ctx, lat, w.get('norm_latents.weight'), w.get('norm_latents.bias'), c.eps);
  const q = project(ctx, latN, w.linear('to_q.weight'), null).view([Q, H, Dh]);
  const kvIn = concatRows(ctx, [media, latN]); // keys see the chunk's tokens and the latents
  ctx.release(media, latN);
  const k = project(ctx, kvIn, w.linear('to_k.weight'), null).view([n + Q, H, Dh]);
  const v = project(ctx, kvIn, w.linear('to_v.weight'), null).view([n + Q, H, Dh]);
  ctx.release(kvIn);
  const a = attention(ctx, q, k, v, { causal: false, scale: 1 / Math.sqrt(Dh) });
  ctx.release(q, k, v);
  const o = project(ctx, a.view([Q, H * Dh]), w.linear('to_out.weight'), null);
  ctx.release(a);
  return addAndRelease(ctx, lat, o);
}

function feedForward(ctx: GpuContext, w: WeightScope, c: ConnectorConfig, lat: Tensor): Tensor {
  const h = layernorm(ctx, lat, w.get('0.weight'), w.get('0.bias'), c.eps);
  const up = project(ctx, h, w.linear('1.weight'), null);
  ctx.release(h);
  const act = gelu(ctx, up, 'erf');
  ctx.release(up);
  const down = project(ctx, act, w.linear('3.weight'), null);
  ctx.release(act);
  return addAndRelease(ctx, lat, down);
}
