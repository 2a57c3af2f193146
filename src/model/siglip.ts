import type { GpuContext } from '../gpu/context';
import { gelu } from '../gpu/kernels/activations';
import { attention } from '../gpu/kernels/attention/attention';
import { layernorm } from '../gpu/kernels/layernorm';
import { matmul } from '../gpu/kernels/matmul/matmul';
import { patchify } from '../gpu/kernels/patchify';
import type { Tensor } from '../gpu/tensor';
import type { VisionConfig } from './config';
import type { WeightScope } from './gpu-weights';
import { addAndRelease, concatRows, linear, sliceRows } from './layers';

/**
 * SigLIP vision tower (HF SiglipVisionModel), run up to the feature layer.
 * Dimension letters: F frames, P patches per frame, C hidden, H heads, D head dim.
 */
export type VisionDims = Pick<
  VisionConfig,
  'imageSize' | 'patchSize' | 'gridSize' | 'hidden' | 'heads' | 'eps' | 'runLayers' | 'selectStrategy'
>;

/** pixels [F, 3, S, S] (normalized) → features [F, P − 1, C]: the feature layer's patch tokens minus the first. */
export function siglipForward(ctx: GpuContext, w: WeightScope, d: VisionDims, pixels: Tensor): Tensor {
  const F = pixels.shape[0];
  const P = d.gridSize * d.gridSize;
  const C = d.hidden;
  const K = 3 * d.patchSize * d.patchSize;

  // Patch embedding: a stride-p convolution = im2col + matmul.
  const patches = patchify(ctx, pixels, d.patchSize); // [F, P, K]
  const convW = w.get('embeddings.patch_embedding.weight');
  let x = matmul(ctx, patches.view([F * P, K]), convW.view([C, K]), w.get('embeddings.patch_embedding.bias'));
  ctx.release(patches);
  const pos = w.get('embeddings.position_embedding.weight'); // [P, C]
  const posF = concatRows(
    ctx,
    Array.from({ length: F }, () => pos),
  ); // [F·P, C]
  x = addAndRelease(ctx, x, posF);

  for (let l = 0; l < d.runLayers; l++) x = encoderLayer(ctx, w.scope(`encoder.layers.${l}.`), d, x, F, P);

  if (d.selectStrategy === 'cls_patch') return x.view([F, P, C]);
  // Drop each frame's first patch token (upstream quirk, kept on purpose).
  const parts: Tensor[] = [];
  for (let f = 0; f < F; f++) parts.push(sliceRows(ctx, x, f * P + 1, (f + 1) * P));
  const out = concatRows(ctx, parts).view([F, P - 1, C]);
  ctx.release(x, ...parts);
  return out;
}

function encoderLayer(
  ctx: GpuContext,
  w: WeightScope,
  d: VisionDims,
  x: Tensor,
  F: number,
  P: number,
): Tensor {
  const C = d.hidden;
  const H = d.heads;
  const D = C / H;
  let h = layernorm(ctx, x, w.get('layer_norm1.weight'), w.get('layer_norm1.bias'), d.eps);
  const q = linear(ctx, h, w, 'self_attn.q_proj').view([F, P, H, D]);
  const k = linear(ctx, h, w, 'self_attn.k_proj').view([F, P, H, D]);
  const v = linear(ctx, h, w, 'self_attn.v_proj').view([F, P, H, D]);
  ctx.release(h);
  const a = attention(ctx, q, k, v, { causal: false, scale: 1 / Math.sqrt(D) });
  ctx.release(q, k, v);
  const o = linear(ctx, a.view([F * P, C]), w, 'self_attn.out_proj');
  ctx.release(a);
  x = addAndRelease(ctx, x, o);

  h = layernorm(ctx, x, w.get('layer_norm2.weight'), w.get('layer_norm2.bias'), d.eps);
  const up = linear(ctx, h, w, 'mlp.fc1');
  ctx.release(h);
  const act = gelu(ctx, up, 'tanh');
  ctx.release(up);
  const down = linear(ctx, act, w, 'mlp.fc2');
  ctx.release(act);
  return addAndRelease(ctx, x, down);
}
