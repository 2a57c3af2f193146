import type { GpuContext } from '../gpu/context';
import { add } from '../gpu/kernels/add';
import { matmul } from '../gpu/kernels/matmul';
import { matmulQ4 } from '../gpu/kernels/quant/matmul-q4';
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

/** Residual update x += y in place; releases y. */
export function addAndRelease(ctx: GpuContext, x: Tensor, y: Tensor): Tensor {
  add(ctx, x, y, x);
  ctx.release(y);
  return x;
}
