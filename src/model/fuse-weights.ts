import type { GpuContext } from '../gpu/context';
import { concatQ4Rows } from '../gpu/kernels/quant/concat';
import type { Tensor } from '../gpu/tensor';
import type { TextConfig } from './config';
import { type GpuWeights, isQuantized, type LinearWeight } from './gpu-weights';
import { concatRows } from './layers';
import { PREFIX } from './weight-manifest';

/**
 * The decoder's projections that read the same input, merged by rows so each is one matmul:
 *   self_attn.qkv_proj = [q_proj; k_proj; v_proj] (weight and bias) → qkvRopeWrite splits the output;
 *   mlp.gate_up_proj   = [gate_proj; up_proj]                       → the SiLU·mul epilogue pairs rows n, n + I.
 * Row concatenation is exact in both forms (4-bit groups never cross rows), so the fused weights compute
 * the same numbers as the separate ones.
 */
export const FUSED = {
  qkv: { name: 'self_attn.qkv_proj', parts: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'] },
  gateUp: { name: 'mlp.gate_up_proj', parts: ['mlp.gate_proj', 'mlp.up_proj'] },
} as const;

function concatLinear(ctx: GpuContext, parts: LinearWeight[]): LinearWeight {
  if (parts.every(isQuantized)) return concatQ4Rows(ctx, parts);
  if (parts.some(isQuantized)) throw new Error('fuse: mixed plain and 4-bit parts');
  return concatRows(ctx, parts as Tensor[]);
}

function release(ctx: GpuContext, w: LinearWeight): void {
  if (isQuantized(w)) ctx.release(...[w.packed, w.scales, w.mins].filter((t) => t !== undefined));
  else ctx.release(w);
}

/** Replaces every layer's q/k/v and gate/up weights by their merged forms (the parts are destroyed). */
export function fuseDecoderWeights(ctx: GpuContext, w: GpuWeights, cfg: TextConfig): void {
  for (let l = 0; l < cfg.layers; l++) {
    const p = `${PREFIX.text}model.layers.${l}.`;
    for (const f of [FUSED.qkv, FUSED.gateUp]) {
      const parts = f.parts.map((n) => w.take(`${p}${n}.weight`));
      w.setLinear(`${p}${f.name}.weight`, concatLinear(ctx, parts));
      for (const part of parts) release(ctx, part);
      if (f === FUSED.qkv) {
        const biases = f.parts.map((n) => w.takePlain(`${p}${n}.bias`));
        w.set(`${p}${f.name}.bias`, concatRows(ctx, biases));
        ctx.release(...biases);
      }
    }
    // Free the parts now rather than leave a model's worth of them pooled (weights never recur as
    // activation sizes): submit the copies that read them, then drop every free buffer.
    ctx.flush();
    ctx.pool.trim();
  }
}
