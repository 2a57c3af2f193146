import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import { numericGrad } from '../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose, TOL, variants } from '../testing/kernel-suite';
import { rmsnorm, rmsnormBackward, rmsnormBackwardCpu, rmsnormCpu } from './rmsnorm';

describe('rmsnorm', () => {
  for (const variant of variants)
    for (const dtype of dtypes)
      for (const [R, C] of [
        [1, 1],
        [7, 33],
        [3, 1000],
        [33, 64],
      ]) {
        it(`${variant} ${dtype} R=${R} C=${C}`, async () => {
          const x = asDtype(randn(R * C, R * 31 + C, -3, 3), dtype);
          const w = asDtype(randn(C, C + 1, 0.5, 1.5), dtype);
          const y = rmsnorm(ctx, ctx.upload(x, [R, C], dtype), ctx.upload(w, [C], dtype), 1e-6, variant);
          expectClose(await ctx.read(y), rmsnormCpu(x, w, C, 1e-6), TOL[dtype]);
        });
      }
});

// The decoder's f32 residual stream (values past f16's range) normed into f16 activations with f16 γ,
// and f16 x into an f32 y.
if (dtypes.includes('f16'))
  describe('rmsnorm, mixed dtypes', () => {
    for (const variant of variants)
      for (const [xd, wd, yd, scale] of [
        ['f32', 'f16', 'f16', 1e5],
        ['f16', 'f16', 'f32', 3],
        ['f32', 'f32', 'f16', 3],
      ] as const)
        for (const [R, C] of [
          [7, 33],
          [3, 1000],
        ])
          it(`${variant} x:${xd}·${scale} w:${wd} → y:${yd} R=${R} C=${C}`, async () => {
            const x = asDtype(randn(R * C, R * 31 + C, -scale, scale), xd);
            const w = asDtype(randn(C, C + 1, 0.5, 1.5), wd);
            const y = rmsnorm(ctx, ctx.upload(x, [R, C], xd), ctx.upload(w, [C], wd), 1e-6, variant, yd);
            expect(y.dtype).toBe(yd);
            expectClose(await ctx.read(y), rmsnormCpu(x, w, C, 1e-6), TOL[yd]);
          });
  });

// Backward. f32: dX and dW sum C (or R) products in f32, so the suite's f32 tolerance with atol
// scaled to the sums' size. f16: dX is rounded to f16 (TOL.f16); dW stays f32 and sees the same
// rounded inputs as the reference, so only f32 summation error remains.
const DW_TOL = { atol: 1e-4, rtol: 1e-4 };

describe('rmsnormBackward', () => {
  for (const variant of variants)
    for (const dtype of dtypes)
      for (const [R, C] of [
        [1, 1],
        [7, 33],
        [3, 1000],
        [65, 64],
      ]) {
        it(`${variant} ${dtype} R=${R} C=${C}`, async () => {
          const x = asDtype(randn(R * C, R * 31 + C, -3, 3), dtype);
          const w = asDtype(randn(C, C + 1, 0.5, 1.5), dtype);
          const dY = asDtype(randn(R * C, R + C + 5, -1, 1), dtype);
          const { dX, dW } = rmsnormBackward(
            ctx,
            ctx.upload(dY, [R, C], dtype),
            ctx.upload(x, [R, C], dtype),
            ctx.upload(w, [C], dtype),
            1e-6,
            variant,
          );
          expect(dX.dtype).toBe(dtype);
          expect(dW.dtype).toBe('f32');
          const want = rmsnormBackwardCpu(dY, x, w, C, 1e-6);
          expectClose(await ctx.read(dX), want.dX, dtype === 'f32' ? { atol: 2e-5, rtol: 1e-4 } : TOL.f16);
          expectClose(await ctx.read(dW), want.dW, DW_TOL);
        });
      }

  // Mixed precision: f16 activations with an f32 upstream gradient give an f32 dX.
  if (dtypes.includes('f16'))
    it('f16 x with f32 dY', async () => {
      const [R, C] = [5, 77];
      const x = asDtype(randn(R * C, 3, -3, 3), 'f16');
      const w = asDtype(randn(C, 4, 0.5, 1.5), 'f16');
      const dY = randn(R * C, 5);
      const { dX, dW } = rmsnormBackward(
        ctx,
        ctx.upload(dY, [R, C], 'f32'),
        ctx.upload(x, [R, C], 'f16'),
        ctx.upload(w, [C], 'f16'),
        1e-6,
      );
      expect(dX.dtype).toBe('f32');
      const want = rmsnormBackwardCpu(dY, x, w, C, 1e-6);
      expectClose(await ctx.read(dX), want.dX, { atol: 2e-5, rtol: 1e-4 });
      expectClose(await ctx.read(dW), want.dW, DW_TOL);
    });

  it('CPU reference matches central differences of rmsnormCpu', () => {
    for (const [R, C] of [
      [1, 1],
      [3, 5],
      [2, 16],
    ]) {
      const x = randn(R * C, 40 + C, -2, 2);
      const w = randn(C, 41 + C, 0.5, 1.5);
      const g = randn(R * C, 42 + C);
      const eps = 1e-3;
      const want = rmsnormBackwardCpu(g, x, w, C, eps);
      const tol = { atol: 2e-4, rtol: 2e-3 };
      expectClose(
        want.dX,
        numericGrad((v) => rmsnormCpu(v, w, C, eps), x, g),
        tol,
      );
      expectClose(
        want.dW,
        numericGrad((v) => rmsnormCpu(x, v, C, eps), w, g),
        tol,
      );
    }
  });

  it('rejects a dY of another shape', () => {
    const x = ctx.upload(new Float32Array(6), [2, 3], 'f32');
    const w = ctx.upload(new Float32Array(3), [3], 'f32');
    expect(() => rmsnormBackward(ctx, ctx.upload(new Float32Array(6), [3, 2], 'f32'), x, w, 1e-6)).toThrow(
      /rmsnormBackward\.dY/,
    );
  });
});
