import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import { numericGrad } from '../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose } from '../testing/kernel-suite';
import { dropout, dropoutBackward, dropoutCpu, dropoutKey, dropoutMaskCpu } from './dropout';

/**
 * The mask is integer hashing on both sides: it must match exactly. f32 values: one correctly rounded
 * product, exact. f16: the f32 product rounded to f16, which may differ by one f16 ulp (2⁻¹⁰ relative)
 * where an adapter's conversion rounds the other way.
 */
const TOL = { f32: { atol: 0, rtol: 0 }, f16: { atol: 0, rtol: 1e-3 } };

/** Inputs with no zeros, so a zero output means a dropped element. */
const inputs = (n: number, seed: number) => randn(n, seed, 0.5, 2).map((v, i) => (i % 2 ? v : -v));

describe('dropout', () => {
  for (const dtype of dtypes)
    for (const shape of [[1], [7], [7, 33], [3, 1000], [70001]])
      for (const p of [0.1, 0.5]) {
        const n = shape.reduce((a, b) => a * b);
        it(`${dtype} [${shape}] p=${p}: the CPU reference's mask and values`, async () => {
          const key = dropoutKey(3, n, 1);
          const x = asDtype(inputs(n, n), dtype);
          const y = await ctx.read(dropout(ctx, ctx.upload(x, shape, dtype), p, key));
          const mask = dropoutMaskCpu(n, p, key);
          for (let i = 0; i < n; i++) if ((y[i] !== 0) !== (mask[i] === 1)) expect.fail(`element ${i}`);
          expectClose(y, dropoutCpu(x, p, key, dtype), TOL[dtype]);
        });
      }

  it('drops about p of the elements, the same ones for the same key, others for another key', () => {
    const n = 70001;
    for (const p of [0.05, 0.3, 0.9]) {
      const kept = dropoutMaskCpu(n, p, dropoutKey(7, 0)).reduce((s, m) => s + m, 0);
      // 5 standard deviations of a binomial count
      expect(Math.abs(kept - n * (1 - p))).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
    }
    const a = dropoutMaskCpu(n, 0.5, dropoutKey(7, 0));
    expect(dropoutMaskCpu(n, 0.5, dropoutKey(7, 0))).toEqual(a);
    for (const other of [dropoutKey(7, 1), dropoutKey(0, 7), dropoutKey(8, 0), dropoutKey(7, 0, 0)]) {
      const b = dropoutMaskCpu(n, 0.5, other);
      const same = a.reduce((s, m, i) => s + (m === b[i] ? 1 : 0), 0);
      expect(Math.abs(same / n - 0.5)).toBeLessThan(0.02); // independent masks agree half the time
    }
  });

  it('p = 0 keeps every element unchanged', async () => {
    const x = inputs(33, 2);
    expect(await ctx.read(dropout(ctx, ctx.upload(x, [33], 'f32'), 0, 5))).toEqual(x);
  });

  it('backward: the forward’s mask and scale, and central differences of the reference', async () => {
    const [n, p, key] = [37, 0.4, dropoutKey(1, 2, 3)];
    const x = inputs(n, 4);
    const dY = randn(n, 5);
    const dX = await ctx.read(dropoutBackward(ctx, ctx.upload(dY, [n], 'f32'), p, key));
    expectClose(dX, dropoutCpu(dY, p, key), TOL.f32);
    const numeric = numericGrad((v) => dropoutCpu(v, p, key), x, dY);
    expectClose(dX, numeric, { atol: 1e-4, rtol: 1e-3 });
    expect(dX.some((v) => v === 0) && dX.some((v) => v !== 0)).toBe(true); // some dropped, some kept
  });

  it('splits large workgroup counts over two grid dimensions', async () => {
    const limits = ctx.summary.limits;
    const saved = limits.maxComputeWorkgroupsPerDimension;
    limits.maxComputeWorkgroupsPerDimension = 5; // 1000 elements → 16 workgroups of 64
    try {
      const x = inputs(1000, 6);
      const y = dropout(ctx, ctx.upload(x, [1000], 'f32'), 0.25, 9);
      expectClose(await ctx.read(y), dropoutCpu(x, 0.25, 9), TOL.f32);
    } finally {
      limits.maxComputeWorkgroupsPerDimension = saved;
    }
  });

  it('rejects a probability outside [0, 1) and counters that are not whole numbers', () => {
    const x = ctx.upload(new Float32Array(4), [4], 'f32');
    expect(() => dropout(ctx, x, 1, 0)).toThrow(/probability 1/);
    expect(() => dropout(ctx, x, -0.1, 0)).toThrow(/probability -0.1/);
    expect(() => dropoutKey(1, 2.5)).toThrow(/counter 2.5/);
  });
});
