import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import { numericGrad } from '../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose, TOL } from '../testing/kernel-suite';
import {
  erfc,
  gelu,
  geluBackward,
  geluBackwardCpu,
  geluCpu,
  siluMul,
  siluMulBackward,
  siluMulBackwardCpu,
  siluMulCpu,
  siluMulHalves,
  siluMulHalvesBackward,
  siluMulHalvesBackwardCpu,
  siluMulHalvesCpu,
} from './activations';

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

// Backward: the same tolerances as the forward (gradients are element-wise, f32 math; f16 gradients are
// rounded to f16). dY in [−1, 1], so gradients stay below ~1.2·|up| (SiLU) and 1.13 (GELU).
describe('siluMulBackward', () => {
  for (const dtype of dtypes) {
    for (const shape of [[1], [33], [3, 333]])
      it(`${dtype} shape=[${shape}]`, async () => {
        const n = size(shape);
        const g = asDtype(randn(n, n + 11, -8, 8), dtype);
        const u = asDtype(randn(n, n + 12, -3, 3), dtype);
        const dY = asDtype(randn(n, n + 13), dtype);
        const up = (a: Float32Array) => ctx.upload(a, shape, dtype);
        const { dGate, dUp } = siluMulBackward(ctx, up(dY), up(g), up(u));
        const want = siluMulBackwardCpu(dY, g, u);
        expectClose(await ctx.read(dGate), want.dGate, TOL[dtype]);
        expectClose(await ctx.read(dUp), want.dUp, TOL[dtype]);
      });

    it(`${dtype} extremes ±${extreme[dtype]}`, async () => {
      const m = extreme[dtype];
      const g = asDtype(sweep(m, 1001), dtype);
      const u = asDtype(randn(1001, 5, -m, m), dtype);
      const dY = asDtype(randn(1001, 6), dtype);
      const up = (a: Float32Array) => ctx.upload(a, [1001], dtype);
      const { dGate, dUp } = siluMulBackward(ctx, up(dY), up(g), up(u));
      const want = siluMulBackwardCpu(dY, g, u);
      const got = await ctx.read(dGate);
      expect(got.every(Number.isFinite)).toBe(true);
      expectClose(got, want.dGate, TOL[dtype]);
      expectClose(await ctx.read(dUp), want.dUp, TOL[dtype]);
    });
  }

  for (const dtype of dtypes)
    for (const [R, I] of [
      [1, 1],
      [3, 7],
      [2, 500],
    ])
      it(`halves ${dtype} R=${R} I=${I}`, async () => {
        const gu = asDtype(randn(R * 2 * I, R + I, -8, 8), dtype);
        const dY = asDtype(randn(R * I, R + I + 1), dtype);
        const dGU = siluMulHalvesBackward(
          ctx,
          ctx.upload(dY, [R, I], dtype),
          ctx.upload(gu, [R, 2 * I], dtype),
        );
        expect(dGU.shape).toEqual([R, 2 * I]);
        expectClose(await ctx.read(dGU), siluMulHalvesBackwardCpu(dY, gu, I), TOL[dtype]);
      });

  if (dtypes.includes('f16'))
    it('f16 inputs with an f32 dY give f32 gradients', async () => {
      const n = 77;
      const g = asDtype(randn(n, 1, -8, 8), 'f16');
      const u = asDtype(randn(n, 2, -3, 3), 'f16');
      const dY = randn(n, 3);
      const { dGate } = siluMulBackward(
        ctx,
        ctx.upload(dY, [n], 'f32'),
        ctx.upload(g, [n], 'f16'),
        ctx.upload(u, [n], 'f16'),
      );
      expect(dGate.dtype).toBe('f32');
      expectClose(await ctx.read(dGate), siluMulBackwardCpu(dY, g, u).dGate, TOL.f32);
    });

  it('CPU references match central differences', () => {
    const n = 9;
    const g = randn(n, 21, -4, 4);
    const u = randn(n, 22, -2, 2);
    const dY = randn(n, 23);
    const tol = { atol: 1e-4, rtol: 1e-3 };
    const want = siluMulBackwardCpu(dY, g, u);
    expectClose(
      want.dGate,
      numericGrad((v) => siluMulCpu(v, u), g, dY),
      tol,
    );
    expectClose(
      want.dUp,
      numericGrad((v) => siluMulCpu(g, v), u, dY),
      tol,
    );
    const gu = randn(2 * 6, 24, -4, 4);
    const dY2 = randn(6, 25);
    expectClose(
      siluMulHalvesBackwardCpu(dY2, gu, 3),
      numericGrad((v) => siluMulHalvesCpu(v, 3), gu, dY2),
      tol,
    );
  });
});

describe('geluBackward', () => {
  for (const approx of ['tanh', 'erf'] as const) {
    for (const dtype of dtypes) {
      for (const shape of [[1], [33], [3, 333]])
        it(`${approx} ${dtype} shape=[${shape}]`, async () => {
          const n = size(shape);
          const x = asDtype(randn(n, n + 3, -6, 6), dtype);
          const dY = asDtype(randn(n, n + 4), dtype);
          const dX = geluBackward(ctx, ctx.upload(dY, shape, dtype), ctx.upload(x, shape, dtype), approx);
          expect(dX.shape).toEqual(shape);
          expectClose(await ctx.read(dX), geluBackwardCpu(dY, x, approx), TOL[dtype]);
        });

      it(`${approx} ${dtype} extremes ±${extreme[dtype]}`, async () => {
        const x = asDtype(sweep(extreme[dtype], 1001), dtype);
        const dY = asDtype(randn(1001, 8), dtype);
        const dX = await ctx.read(
          geluBackward(ctx, ctx.upload(dY, [1001], dtype), ctx.upload(x, [1001], dtype), approx),
        );
        expect(dX.every(Number.isFinite)).toBe(true);
        expectClose(dX, geluBackwardCpu(dY, x, approx), TOL[dtype]);
      });
    }

    it(`${approx} CPU reference matches central differences`, () => {
      const x = Float32Array.from([-5, -2.5, -1, -0.3, 0, 0.2, 0.9, 1.7, 3, 6]);
      const dY = randn(x.length, 31);
      expectClose(
        geluBackwardCpu(dY, x, approx),
        numericGrad((v) => geluCpu(v, approx), x, dY),
        { atol: 1e-4, rtol: 1e-3 },
      );
    });
  }
});
