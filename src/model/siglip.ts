import type { GpuContext } from '../gpu/context';
import { gelu } from '../gpu/kernels/activations';
import { add } from '../gpu/kernels/add';
import { attention } from '../gpu/kernels/attention/attention';
import { layernorm } from '../gpu/kernels/layernorm';
import { matmul } from '../gpu/kernels/matmul/matmul';
import { patchify } from '../gpu/kernels/patchify';
import type { Tensor } from '../gpu/tensor';
import type { VisionConfig } from './config';
import type { WeightScope } from './gpu-weights';
import { concatRows, linear, sliceRows } from './layers';

/**
 * SigLIP vision tower (HF SiglipVisionModel), run up to the feature layer.
 * Dimension letters: F frames, P patches per frame, C hidden, H heads, D head dim, I MLP width, K
 * values per patch (3·p²).
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
  return ctx.tidy(() => {
    // Patch embedding (a stride-p convolution = im2col + matmul), plus each patch's position embedding.
    const x = ctx.tidy(() => {
      const patches = patchify(ctx, pixels, d.patchSize).view([F * P, K]);
      const convW = w.get('embeddings.patch_embedding.weight').view([C, K]);
      const e = matmul(ctx, patches, convW, w.get('embeddings.patch_embedding.bias')); // [F·P, C]
      const pos = w.get('embeddings.position_embedding.weight'); // [P, C]
      return add(ctx, e, concatRows(ctx, Array(F).fill(pos)), e); // e += pos, for every frame
    }); // [F·P, C], the residual stream
    for (let l = 0; l < d.runLayers; l++) encoderLayer(ctx, w.scope(`encoder.layers.${l}.`), d, x, F, P);
    if (d.selectStrategy === 'cls_patch') return x.view([F, P, C]);
    // Drop each frame's first patch token (upstream quirk, kept on purpose).
    const parts = Array.from({ length: F }, (_, f) => sliceRows(ctx, x, f * P + 1, (f + 1) * P));
    return concatRows(ctx, parts).view([F, P - 1, C]);
  });
}

/** One pre-norm encoder layer, updating the residual stream x [F·P, C] in place. */
function encoderLayer(ctx: GpuContext, w: WeightScope, d: VisionDims, x: Tensor, F: number, P: number): void {
  const C = d.hidden;
  const H = d.heads;
  const D = C / H;
  // x += out_proj(attention(q, k, v)), with q, k, v projections of layer_norm1(x)
  ctx.tidy(() => {
    const h = layernorm(ctx, x, w.get('layer_norm1.weight'), w.get('layer_norm1.bias'), d.eps); // [F·P, C]
    const q = linear(ctx, h, w, 'self_attn.q_proj').view([F, P, H, D]);
    const k = linear(ctx, h, w, 'self_attn.k_proj').view([F, P, H, D]);
    const v = linear(ctx, h, w, 'self_attn.v_proj').view([F, P, H, D]);
    const a = attention(ctx, q, k, v, { causal: false, scale: 1 / Math.sqrt(D) }); // [F, P, H, D]
    add(ctx, x, linear(ctx, a.view([F * P, C]), w, 'self_attn.out_proj'), x);
  });
  // x += fc2(gelu(fc1(layer_norm2(x))))
  ctx.tidy(() => {
    const h = layernorm(ctx, x, w.get('layer_norm2.weight'), w.get('layer_norm2.bias'), d.eps); // [F·P, C]
    const up = linear(ctx, h, w, 'mlp.fc1'); // [F·P, I]
    add(ctx, x, linear(ctx, gelu(ctx, up, 'tanh'), w, 'mlp.fc2'), x);
  });
}
