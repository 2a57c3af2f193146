import { describe, expect, it } from 'vitest';
import { ctx, dtypes, expectClose } from '../testing/kernel-suite';
import { fillRandom, fillRandomCpu } from './fill';

describe('fillRandom', () => {
  for (const n of [1, 7, 1000, 70001]) {
    for (const dtype of dtypes)
      it(`${dtype} n=${n}`, async () => {
        const t = fillRandom(ctx, ctx.empty([n], dtype), 1234 + n, -0.5, 2);
        const got = await ctx.read(t);
        // f32: one rounding of lo + (hi − lo)·u may differ by an ulp between GPU fma and CPU.
        expectClose(got, fillRandomCpu(n, dtype, 1234 + n, -0.5, 2), {
          atol: dtype === 'f16' ? 2e-3 : 1e-6,
          rtol: 0,
        });
        expect(got.every((v) => v >= -0.5 && v <= 2)).toBe(true);
      });
    it(`u32 n=${n}`, async () => {
      const t = fillRandom(ctx, ctx.empty([n], 'u32'), 99);
      expect(Array.from(await ctx.readU32(t)).slice(0, n)).toEqual(Array.from(fillRandomCpu(n, 'u32', 99)));
    });
  }
});
