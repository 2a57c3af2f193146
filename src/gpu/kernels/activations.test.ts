import { describe, expect, it } from 'vitest';
import { asDtype, ctx, dtypes, expectClose, TOL } from '../testing/kernel-suite';
import { randn } from '../testing/random';
import { erfc, gelu, geluCpu, siluMul, siluMulCpu, siluMulHalves, siluMulHalvesCpu } from './activations';

// Tolerances: the suite's TOL. f32 (atol 1e-5, rtol 1e-4): everything is computed in f32; the erf
// polynomial adds ≤ 0.5·|x|·1.5e-7 absolute. f16 (atol 2e-3, rtol 4e-3): the output is rounded to f16.
// References are f64 on the same (rounded) inputs.

const shapes = [[1], [7], [33], [1000], [3, 333]];
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
/** The largest |x| tested per dtype: ±80 in f32; ±20 in f16 (silu(20)·20 = 400, well inside f16). */
const extreme = { f32: 80, f16: 20 } as const;

/** Evenly spaced values across [−m, m] (0 and both ends included), then a few near zero. */
function sweep(m: number, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = -m + (2 * m * i) / (n - 1);
  v.set([0, 1e-3, -1e-3, 1e-6, -1e-6], 0);
  return v;
}

describe('siluMul', () => {
  for (const dtype of dtypes) {
    for (const shape of shapes)
      it(`${dtype} shape=[${shape}]`, async () => {
        const n = size(shape);
        const g = asDtype(randn(n, n + 1, -8, 8), dtype);
        const u = asDtype(randn(n, n + 2, -3, 3), dtype);
        const y = siluMul(ctx, ctx.upload(g, shape, dtype), ctx.upload(u, shape, dtype));
        expect(y.shape).toEqual(shape);
        expectClose(await ctx.read(y), siluMulCpu(g, u), TOL[dtype]);
      });

    it(`${dtype} extremes ±${extreme[dtype]}`, async () => {
      const m = extreme[dtype];
      const g = asDtype(sweep(m, 1001), dtype);
      const u = asDtype(randn(1001, 5, -m, m), dtype);
      const y = await ctx.read(siluMul(ctx, ctx.upload(g, [1001], dtype), ctx.upload(u, [1001], dtype)));
      expect(y.every(Number.isFinite)).toBe(true);
      expectClose(y, siluMulCpu(g, u), TOL[dtype]);
    });
  }

  it('rejects mismatched shapes', () => {
    const a = ctx.upload(new Float32Array(4), [4], 'f32');
    const b = ctx.upload(new Float32Array(4), [2, 2], 'f32');
    expect(() => siluMul(ctx, a, b)).toThrow(/siluMul\.up/);
  });
});

describe('siluMulHalves', () => {
  for (const dtype of dtypes)
    for (const shape of [[2], [26], [3, 2, 14], [1000]])
      it(`${dtype} shape=[${shape}]`, async () => {
        const n = size(shape);
        const I = shape[shape.length - 1] / 2;
        const gu = asDtype(randn(n, n + 7, -8, 8), dtype);
        const y = siluMulHalves(ctx, ctx.upload(gu, shape, dtype));
        expect(y.shape).toEqual([...shape.slice(0, -1), I]);
        expectClose(await ctx.read(y), siluMulHalvesCpu(gu, I), TOL[dtype]);
      });

  it('matches siluMul on the halves', () => {
    const gu = Float32Array.from([-2, 0.5, 3, 1, -1, 2]);
    expect(siluMulHalvesCpu(gu, 3)).toEqual(siluMulCpu(gu.subarray(0, 3), gu.subarray(3)));
  });

  it('rejects an odd last dimension', () => {
    expect(() => siluMulHalves(ctx, ctx.upload(new Float32Array(3), [3], 'f32'))).toThrow(/even/);
  });
});

describe('gelu', () => {
  for (const approx of ['tanh', 'erf'] as const)
    for (const dtype of dtypes) {
      for (const shape of shapes)
        it(`${approx} ${dtype} shape=[${shape}]`, async () => {
          const n = size(shape);
          const x = asDtype(randn(n, n + 3, -6, 6), dtype);
          const y = gelu(ctx, ctx.upload(x, shape, dtype), approx);
          expect(y.shape).toEqual(shape);
          expectClose(await ctx.read(y), geluCpu(x, approx), TOL[dtype]);
        });

      it(`${approx} ${dtype} extremes ±${extreme[dtype]}`, async () => {
        const x = asDtype(sweep(extreme[dtype], 1001), dtype);
        const y = await ctx.read(gelu(ctx, ctx.upload(x, [1001], dtype), approx));
        expect(y.every(Number.isFinite)).toBe(true);
        expectClose(y, geluCpu(x, approx), TOL[dtype]);
      });
    }

  it('erf: polynomial error stays within 2e-7·max(1, |x|) in f32', async () => {
    const x = sweep(8, 4001);
    const y = await ctx.read(gelu(ctx, ctx.upload(x, [4001], 'f32'), 'erf'));
    const ref = geluCpu(x, 'erf');
    for (let i = 0; i < x.length; i++)
      expect(Math.abs(y[i] - ref[i])).toBeLessThanOrEqual(
        2e-7 * Math.max(1, Math.abs(x[i])) + 4e-7 * Math.abs(ref[i]),
      );
  });
});

// The CPU references against values from Python's math.erfc / math.tanh / math.exp (f64).
describe('CPU references', () => {
  it('erfc matches math.erfc', () => {
    const known: [number, number][] = [
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [2, 0.004677734981047265],
      [3, 2.2090496998585438e-5],
      [5, 1.5374597944280351e-12],
      [10, 2.088487583762545e-45],
      [-2, 1.9953222650189528],
    ];
    for (const [z, v] of known)
      expect(Math.abs(erfc(z) - v)).toBeLessThanOrEqual(1e-15 * Math.max(1, v) + 1e-12 * v);
  });

  it('geluCpu and siluMulCpu match Python', () => {
    const x = Float32Array.from([-5, -3, -1, -0.5, 0.5, 1, 3]);
    const erf = [
      -1.4332578593959731e-6, -0.004049694094890287, -0.15865525393145707, -0.15426876936299344,
      0.34573123063700656, 0.8413447460685429, 2.99595030590511,
    ];
    const tanh = [
      -2.2917961972623857e-7, -0.0036373920817729943, -0.15880800939172324, -0.15428599017485606,
      0.34571400982514394, 0.8411919906082768, 2.996362607918227,
    ];
    expectClose(geluCpu(x, 'erf'), erf, { atol: 1e-12, rtol: 1e-7 });
    expectClose(geluCpu(x, 'tanh'), tanh, { atol: 1e-12, rtol: 1e-7 });
    const g = Float32Array.from([-20, -1, 1, 20]);
    const silu = [-4.122307236380407e-8, -0.2689414213699951, 0.7310585786300049, 19.999999958776925];
    expectClose(siluMulCpu(g, new Float32Array(4).fill(1)), silu, { atol: 1e-12, rtol: 1e-7 });
  });
});
