import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import { ctx, expectClose } from '../testing/kernel-suite';
import {
  ADAMW_DEFAULTS,
  adamwStep,
  adamwStepCpu,
  SQ_CHUNK,
  sumSquaresCpu,
  sumSquaresInto,
  sumSquaresParts,
} from './adamw';

// The reference runs in f64; the GPU in f32, where m, v and the update each round a few times per
// step (its sqrt and division within a few ulps): 1e-5 is ~2e-4 of a step at lr 0.05.
const TOL = { atol: 1e-5, rtol: 1e-5 };

describe('adamw', () => {
  for (const n of [1, 63, 65, 1000]) {
    it(`three steps of n=${n} with clipping scale and weight decay match torch's update`, async () => {
      const h = { ...ADAMW_DEFAULTS, lr: 0.05, weightDecay: 0.1 };
      let p: Float32Array = randn(n, n, -1, 1);
      let m: Float32Array = new Float32Array(n);
      let v: Float32Array = new Float32Array(n);
      const tp = ctx.upload(p, [n], 'f32');
      const tm = ctx.upload(m, [n], 'f32');
      const tv = ctx.upload(v, [n], 'f32');
      for (let t = 1; t <= 3; t++) {
        const g = randn(n, n * 7 + t, -3, 3);
        adamwStep(ctx, tp, ctx.upload(g, [n], 'f32'), tm, tv, h, t, 0.5);
        ({ param: p, m, v } = adamwStepCpu(p, g, m, v, h, t, 0.5));
      }
      expectClose(await ctx.read(tm), m, TOL);
      expectClose(await ctx.read(tv), v, TOL);
      expectClose(await ctx.read(tp), p, TOL);
    });
  }
  it('moves a parameter against its gradient by about lr on the first step', async () => {
    const tp = ctx.upload(Float32Array.of(1, 1), [2], 'f32');
    const zeros = () => ctx.upload(new Float32Array(2), [2], 'f32');
    adamwStep(
      ctx,
      tp,
      ctx.upload(Float32Array.of(2, -2), [2], 'f32'),
      zeros(),
      zeros(),
      { ...ADAMW_DEFAULTS, weightDecay: 0, lr: 0.1 },
      1,
    );
    expectClose(await ctx.read(tp), Float32Array.of(0.9, 1.1), { atol: 1e-6, rtol: 0 });
  });
  it('rejects step 0 and mismatched shapes', () => {
    const a = ctx.upload(new Float32Array(4), [4], 'f32');
    const b = ctx.upload(new Float32Array(3), [3], 'f32');
    expect(() => adamwStep(ctx, a, a, a, a, ADAMW_DEFAULTS, 0)).toThrow(/step 0/);
    expect(() => adamwStep(ctx, a, b, a, a, ADAMW_DEFAULTS, 1)).toThrow();
  });
});

describe('sumSquares', () => {
  it('partial sums of several tensors into one buffer add up to Σx²', async () => {
    const xs = [1, SQ_CHUNK, SQ_CHUNK + 1, 5000].map((n, i) => randn(n, 90 + i, -2, 2));
    const total = xs.reduce((n, x) => n + sumSquaresParts(x.length), 0);
    const out = ctx.upload(new Float32Array(total), [total], 'f32');
    let at = 0;
    for (const x of xs) {
      sumSquaresInto(ctx, ctx.upload(x, [x.length], 'f32'), out, at);
      at += sumSquaresParts(x.length);
    }
    const parts = await ctx.read(out);
    let got = 0;
    for (const v of parts) got += v;
    const want = xs.reduce((s, x) => s + sumSquaresCpu(x), 0);
    expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
    expect(() => sumSquaresInto(ctx, ctx.upload(xs[3], [5000], 'f32'), out, total - 1)).toThrow(/overflow/);
  });
});
