import type { GpuContext } from '../gpu/context';
import { siluMulHalves } from '../gpu/kernels/activations';
import { add } from '../gpu/kernels/add';
import { matmul } from '../gpu/kernels/matmul/matmul';
import { matmulQ4 } from '../gpu/kernels/matmul/matmul-q4';
import { rmsnorm } from '../gpu/kernels/rmsnorm';
import type { Tensor } from '../gpu/tensor';
import { isQuantized, type LinearWeight, type WeightScope } from './gpu-weights';

/** y = x·Wᵀ (+ b) for a PyTorch Linear stored under `<name>.weight` / `<name>.bias` (plain or 4-bit). */
export function linear(ctx: GpuContext, x: Tensor, w: WeightScope, name: string, bias = true): Tensor {
  return project(ctx, x, w.linear(`${name}.weight`), bias ? w.get(`${name}.bias`) : null);
}

/** x·Wᵀ (+ b) with the kernel that fits the weight's form. */
export function project(ctx: GpuContext, x: Tensor, weight: LinearWeight, bias: Tensor | null): Tensor {
  return isQuantized(weight) ? matmulQ4(ctx, x, weight, bias) : matmul(ctx, x, weight, bias);
}

/** RMSNorm weights of the layer norm that precedes a projection. */
export interface NormSpec {
  weight: Tensor;
  eps: number;
}

/** The activation dtype projections write (f16 on the f16 path), whatever the residual stream's. */
const actOf = (ctx: GpuContext) => ctx.actDtype as 'f32' | 'f16';

/**
 * RMSNorm(x)·γ then x·Wᵀ (+ b), optionally with W = [gate; up] and y = silu(x·gateᵀ)·(x·upᵀ).
 * x may be the f32 residual stream; y is in the activation dtype. 4-bit weights run it fused in one
 * kernel; plain weights as separate kernels (the normed x rounded to the activation dtype between).
 */
export function normProject(
  ctx: GpuContext,
  x: Tensor,
  norm: NormSpec,
  weight: LinearWeight,
  bias: Tensor | null,
  epilogue?: 'siluMulHalves',
): Tensor {
  if (isQuantized(weight))
    return matmulQ4(ctx, x, weight, bias, ctx.variant, { norm, epilogue, out: actOf(ctx) });
  return ctx.tidy(() => {
    const y = matmul(ctx, rmsnorm(ctx, x, norm.weight, norm.eps, ctx.variant, actOf(ctx)), weight, bias);
    return epilogue ? siluMulHalves(ctx, y) : y;
  });
}

/**
 * The residual update r += x·Wᵀ (a bias-free Linear), fused into the 4-bit kernels; returns r. r may be
 * f32 with x f16: the product is summed in f32 and added without passing through f16.
 */
export function projectAdd(ctx: GpuContext, r: Tensor, x: Tensor, weight: LinearWeight): Tensor {
  if (isQuantized(weight)) return matmulQ4(ctx, x, weight, null, ctx.variant, { residual: r });
  const out = r.dtype as 'f32' | 'f16';
  return ctx.tidy(() => add(ctx, r, matmul(ctx, x, weight, null, ctx.variant, out), r));
}

/**
 * x·Wᵀ for W given as row parts [V_0, K], [V_1, K], … (a vocabulary-sized lm_head): each part's columns
 * land side by side in y [M, ΣV_i]. `norm`: RMSNorm(x)·γ first — inside each 4-bit part's kernel, or
 * once for plain parts; y is then in the activation dtype (x may be the f32 residual stream).
 */
export function projectParts(ctx: GpuContext, x: Tensor, parts: LinearWeight[], norm?: NormSpec): Tensor {
  return ctx.tidy(() => {
    const fused = norm && parts.every(isQuantized) ? norm : undefined;
    const h = norm && !fused ? rmsnorm(ctx, x, norm.weight, norm.eps, ctx.variant, actOf(ctx)) : x;
    const ys = parts.map((p) => (fused ? normProject(ctx, h, fused, p, null) : project(ctx, h, p, null)));
    if (ys.length === 1) return ys[0];
    const M = x.size / x.shape[x.shape.length - 1];
    const V = ys.reduce((n, y) => n + y.shape[y.shape.length - 1], 0);
    const out = ctx.empty([M, V], ys[0].dtype);
    const elem = out.byteLength / out.size;
    let col = 0;
    for (const y of ys) {
      const Vi = y.shape[y.shape.length - 1];
      // Part widths are kept even, so f16 rows stay whole 4-byte words for the copies.
      for (let m = 0; m < M; m++) ctx.copyRegion(y, m * Vi * elem, out, (m * V + col) * elem, Vi * elem);
      col += Vi;
    }
    return out;
  });
}

/** Rows [from, to) of a [N, ...] tensor as a new tensor (a GPU copy). */
export function sliceRows(ctx: GpuContext, x: Tensor, from: number, to: number): Tensor {
  const rowElems = x.size / x.shape[0];
  const bytesPerElem = x.byteLength / x.size;
  const out = ctx.empty([to - from, ...x.shape.slice(1)], x.dtype);
  ctx.copyRegion(x, from * rowElems * bytesPerElem, out, 0, (to - from) * rowElems * bytesPerElem);
  return out;
}

/** Concatenates tensors along dim 0 (same trailing shape and dtype). */
export function concatRows(ctx: GpuContext, parts: Tensor[]): Tensor {
  const tail = parts[0].shape.slice(1);
  const rows = parts.reduce((n, t) => n + t.shape[0], 0);
  const out = ctx.empty([rows, ...tail], parts[0].dtype);
  let offset = 0;
  for (const t of parts) {
    if (t.dtype !== out.dtype || t.shape.slice(1).join() !== tail.join())
      throw new Error('concatRows: mismatched parts');
    ctx.copyRegion(t, 0, out, offset, t.byteLength);
    offset += t.byteLength;
  }
  return out;
}
