import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import { numericGrad } from '../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose, TOL, variants } from '../testing/kernel-suite';
import { layernorm, layernormBackward, layernormBackwardCpu, layernormCpu } from './layernorm';

// Tolerances: the suite's TOL (f32: atol 1e-5, rtol 1e-4 — statistics in f32; f16: atol 2e-3,
// rtol 4e-3 — output rounded to f16, |y| up to ~4 here). The reference sees the same rounded inputs.
describe('layernorm', () => {
  const shapes = [
    [1, 1],
    [1, 7],
    [7, 33],
    [3, 1000],
    [33, 64],
    [65, 5],
  ];
  for (const variant of variants)
    for (const dtype of dtypes) {
      for (const [R, C] of shapes) {
        it(`${variant} ${dtype} R=${R} C=${C}`, async () => {
          const x = asDtype(randn(R * C, R * 31 + C, -3, 3), dtype);
          const w = asDtype(randn(C, C + 1, 0.5, 1.5), dtype);
          const b = asDtype(randn(C, C + 2, -0.5, 0.5), dtype);
          const y = layernorm(
            ctx,
            ctx.upload(x, [R, C], dtype),
            ctx.upload(w, [C], dtype),
            ctx.upload(b, [C], dtype),
            1e-5,
            variant,
          );
          expect(y.shape).toEqual([R, C]);
          expectClose(await ctx.read(y), layernormCpu(x, w, b, C, 1e-5), TOL[dtype]);
        });
      }

      // A large common offset: a one-pass E[x²] − E[x]² would lose everything here; in f32 the
      // shifted, corrected two-pass keeps the suite's tolerance.
      for (const [R, C] of [
        [4, 1000],
        [5, 33],
      ]) {
        it(`${variant} ${dtype} offset 1000 R=${R} C=${C}`, async () => {
          const x = asDtype(randn(R * C, 7 + C, 997, 1003), dtype);
          const w = asDtype(randn(C, 3, 0.5, 1.5), dtype);
          const b = asDtype(randn(C, 4, -0.5, 0.5), dtype);
          const y = layernorm(
            ctx,
            ctx.upload(x, [R, C], dtype),
            ctx.upload(w, [C], dtype),
            ctx.upload(b, [C], dtype),
            1e-6,
            variant,
          );
          expectClose(await ctx.read(y), layernormCpu(x, w, b, C, 1e-6), TOL[dtype]);
        });
      }

      it(`${variant} ${dtype} constant rows give b (variance 0, eps only)`, async () => {
        const [R, C] = [3, 33];
        const x = new Float32Array(R * C).fill(-2.5);
        const w = asDtype(randn(C, 5, 0.5, 1.5), dtype);
        const b = asDtype(randn(C, 6, -0.5, 0.5), dtype);
        const y = layernorm(
          ctx,
          ctx.upload(x, [R, C], dtype),
          ctx.upload(w, [C], dtype),
          ctx.upload(b, [C], dtype),
          1e-5,
          variant,
        );
        expectClose(await ctx.read(y), layernormCpu(x, w, b, C, 1e-5), TOL[dtype]);
      });
    }

  // f16 activations with f32 parameters (the weight dtype is independent of the activation dtype).
  if (dtypes.includes('f16'))
    for (const variant of variants)
      it(`${variant} f16 x with f32 w, b`, async () => {
        const [R, C] = [7, 1000];
        const x = asDtype(randn(R * C, 11, -3, 3), 'f16');
        const w = randn(C, 12, 0.5, 1.5);
        const b = randn(C, 13, -0.5, 0.5);
        const y = layernorm(
          ctx,
          ctx.upload(x, [R, C], 'f16'),
          ctx.upload(w, [C], 'f32'),
          ctx.upload(b, [C], 'f32'),
          1e-5,
          variant,
        );
        expect(y.dtype).toBe('f16');
        expectClose(await ctx.read(y), layernormCpu(x, w, b, C, 1e-5), TOL.f16);
      });

  it('rejects mismatched parameter shapes', () => {
    const x = ctx.upload(new Float32Array(6), [2, 3], 'f32');
    const w = ctx.upload(new Float32Array(3), [3], 'f32');
    const b = ctx.upload(new Float32Array(2), [2], 'f32');
    expect(() => layernorm(ctx, x, w, b, 1e-5)).toThrow(/layernorm\.b/);
  });
});

// Backward. f32: dX sums C products in f32 (atol 2e-5, rtol 1e-4); f16 dX is rounded to f16 (TOL.f16).
// dW and dB are f32 sums over R rows of the same rounded inputs the reference sees: atol 1e-4, rtol 1e-4.
const DW_TOL = { atol: 1e-4, rtol: 1e-4 };
const DX32_TOL = { atol: 2e-5, rtol: 1e-4 };

describe('layernormBackward', () => {
  // [R, C, x lo, x hi]: the last case puts a large common offset on x.
  const cases: [number, number, number, number][] = [
    [1, 1, -3, 3],
    [7, 33, -3, 3],
    [3, 1000, -3, 3],
    [65, 5, -3, 3],
    [4, 100, 997, 1003],
  ];
  for (const variant of variants)
    for (const dtype of dtypes)
      for (const [R, C, lo, hi] of cases)
        it(`${variant} ${dtype} R=${R} C=${C} x in [${lo}, ${hi})`, async () => {
          const x = asDtype(randn(R * C, R * 31 + C, lo, hi), dtype);
          const w = asDtype(randn(C, C + 1, 0.5, 1.5), dtype);
          const dY = asDtype(randn(R * C, R + C + 9), dtype);
          const { dX, dW, dB } = layernormBackward(
            ctx,
            ctx.upload(dY, [R, C], dtype),
            ctx.upload(x, [R, C], dtype),
            ctx.upload(w, [C], dtype),
            1e-5,
            variant,
          );
          expect(dX.dtype).toBe(dtype);
          expect([dW.dtype, dB.dtype]).toEqual(['f32', 'f32']);
          const want = layernormBackwardCpu(dY, x, w, C, 1e-5);
          expectClose(await ctx.read(dX), want.dX, dtype === 'f32' ? DX32_TOL : TOL.f16);
          expectClose(await ctx.read(dW), want.dW, DW_TOL);
          expectClose(await ctx.read(dB), want.dB, DW_TOL);
        });

  // f16 activations and upstream gradient with f32 parameters.
  if (dtypes.includes('f16'))
    it('f16 x and dY with f32 w', async () => {
      const [R, C] = [9, 77];
      const x = asDtype(randn(R * C, 21, -3, 3), 'f16');
      const dY = asDtype(randn(R * C, 22), 'f16');
      const w = randn(C, 23, 0.5, 1.5);
      const { dX, dW } = layernormBackward(
        ctx,
        ctx.upload(dY, [R, C], 'f16'),
        ctx.upload(x, [R, C], 'f16'),
        ctx.upload(w, [C], 'f32'),
        1e-5,
      );
      const want = layernormBackwardCpu(dY, x, w, C, 1e-5);
      expectClose(await ctx.read(dX), want.dX, TOL.f16);
      expectClose(await ctx.read(dW), want.dW, DW_TOL);
    });

  it('CPU reference matches central differences of layernormCpu', () => {
    for (const [R, C] of [
      [1, 2],
      [3, 5],
      [2, 16],
    ]) {
      const x = randn(R * C, 60 + C, -2, 2);
      const w = randn(C, 61 + C, 0.5, 1.5);
      const b = randn(C, 62 + C, -0.5, 0.5);
      const g = randn(R * C, 63 + C);
      const eps = 1e-3;
      const want = layernormBackwardCpu(g, x, w, C, eps);
      const tol = { atol: 2e-4, rtol: 2e-3 };
      expectClose(
        want.dX,
        numericGrad((v) => layernormCpu(v, w, b, C, eps), x, g),
        tol,
      );
      expectClose(
        want.dW,
        numericGrad((v) => layernormCpu(x, v, b, C, eps), w, g),
        tol,
      );
      expectClose(
        want.dB,
        numericGrad((v) => layernormCpu(x, w, v, C, eps), b, g),
        tol,
      );
    }
  });
});
