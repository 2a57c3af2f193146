import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../compare';
import { randn, rng } from '../random';
import { asDtype, ctx, dtypes, expectClose, variants } from '../testing/kernel-suite';
import { softmax, softmaxCpu } from './softmax';

/**
 * Outputs lie in [0, 1]. f32: WGSL's exp is accurate to a few ulp near 0 and the sum to ~1e-6 relative,
 * so rtol 1e-4 with a tiny atol for underflowing entries. f16: the output is rounded to 11 bits
 * (4.9e-4 relative) after the f32 math, and f16 subnormals are spaced 6e-8 apart.
 */
const TOL: Record<'f32' | 'f16', Tolerance> = {
  f32: { atol: 1e-7, rtol: 1e-4 },
  f16: { atol: 1e-6, rtol: 1e-3 },
};

/** Large-magnitude rows: values near the dtype's top, all-equal rows, and masked (huge negative) entries. */
function extremeRows(dtype: 'f32' | 'f16', C: number): Float32Array {
  const big = dtype === 'f32' ? 1e4 : 60000;
  const mask = dtype === 'f32' ? -3.4e38 : -65504; // the largest negative finite value each dtype holds
  const step = dtype === 'f32' ? 1 : 32; // f16 spacing near 60000 is 32
  const r = rng(C);
  const rows: number[][] = [
    Array.from({ length: C }, () => big - step * Math.floor(4 * r())), // near the top, small gaps
    Array.from({ length: C }, () => -big + step * Math.floor(4 * r())), // near the bottom
    Array.from({ length: C }, () => (r() < 0.5 ? big : -big)), // ± extremes: uniform over the +big entries
    Array.from({ length: C }, () => big), // all equal: exactly 1/C each
    Array.from({ length: C }, (_, c) => (c % 3 === 1 ? 2 * r() - 1 : mask)), // causal-style mask
    Array.from({ length: C }, (_, c) => (c === C - 1 ? mask : -big)), // the mask is the row's only tiny entry
  ];
  return Float32Array.from(rows.flat());
}

describe('softmax', () => {
  for (const variant of variants)
    for (const dtype of dtypes) {
      for (const [R, C] of [
        [1, 1],
        [7, 33],
        [3, 1000],
        [33, 64],
        [2, 4097],
      ]) {
        it(`${variant} ${dtype} R=${R} C=${C}`, async () => {
          const x = asDtype(randn(R * C, R * 31 + C, -8, 8), dtype);
          const y = softmax(ctx, ctx.upload(x, [R, C], dtype), variant);
          expect(y.shape).toEqual([R, C]);
          expectClose(await ctx.read(y), softmaxCpu(x, C), TOL[dtype]);
        });
      }
      for (const C of [3, 65]) {
        it(`${variant} ${dtype} extreme values C=${C}`, async () => {
          const x = asDtype(extremeRows(dtype, C), dtype);
          const got = await ctx.read(softmax(ctx, ctx.upload(x, [x.length / C, C], dtype), variant));
          expect(got.every(Number.isFinite)).toBe(true);
          expectClose(got, softmaxCpu(x, C), TOL[dtype]);
        });
      }
    }

  // The grid path (workgroup counts past one dimension) under a lowered limit, so it stays cheap to run.
  it('keeps leading dims and splits large workgroup counts over two grid dimensions', async () => {
    const limits = ctx.summary.limits;
    const saved = limits.maxComputeWorkgroupsPerDimension;
    try {
      const R = 1100;
      const x = randn(R * 2, 5, -4, 4);
      for (const variant of variants) {
        // flat needs 18 workgroups, tiled 1100: each exceeds its limit, fits its square, and overshoots.
        limits.maxComputeWorkgroupsPerDimension = variant === 'flat' ? 5 : 34;
        const y = softmax(ctx, ctx.upload(x, [2, R / 2, 2], 'f32'), variant);
        expect(y.shape).toEqual([2, R / 2, 2]);
        expectClose(await ctx.read(y), softmaxCpu(x, 2), TOL.f32);
      }
    } finally {
      limits.maxComputeWorkgroupsPerDimension = saved;
    }
  });
});
