import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import { asDtype, ctx, dtypes } from '../testing/kernel-suite';
import { cast, castCpu } from './cast';

/** Exact: widening is exact and narrowing rounds as the reference does. */
describe('cast', () => {
  for (const from of dtypes)
    for (const to of dtypes)
      for (const n of [1, 7, 1001]) {
        it(`${from} → ${to} n=${n}`, async () => {
          const x = asDtype(randn(n, n + 3, -6e4, 6e4), from);
          const y = cast(ctx, ctx.upload(x, [n], from), to);
          expect(y.dtype).toBe(to);
          expect(y.shape).toEqual([n]);
          expect(Array.from(await ctx.read(y))).toEqual(Array.from(castCpu(x, to)));
        });
      }

  if (dtypes.includes('f16'))
    it('f32 past 65504 becomes ±inf in f16; f16 widens exactly', async () => {
      const x = Float32Array.from([65504, 65519, 65520, 1e5, -1e5, 2 ** -24, 0.1]);
      const half = await ctx.read(cast(ctx, ctx.upload(x, [x.length], 'f32'), 'f16'));
      expect(Array.from(half)).toEqual(Array.from(castCpu(x, 'f16')));
      expect(half[3]).toBe(Number.POSITIVE_INFINITY);
      expect(half[4]).toBe(Number.NEGATIVE_INFINITY);
      const wide = await ctx.read(cast(ctx, ctx.upload(castCpu(x, 'f16'), [x.length], 'f16'), 'f32'));
      expect(Array.from(wide)).toEqual(Array.from(half));
    });
});
