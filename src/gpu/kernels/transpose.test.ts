import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import { ctx, dtypes, expectClose } from '../testing/kernel-suite';
import { transpose, transposeCpu } from './transpose';

describe('transpose', () => {
  for (const dtype of dtypes)
    for (const [R, C] of [
      [1, 1],
      [1, 7],
      [5, 1],
      [63, 65],
      [130, 17],
    ])
      it(`${dtype} [${R}, ${C}]`, async () => {
        const x = randn(R * C, R * 31 + C);
        const t = ctx.upload(x, [R, C], dtype);
        const y = transpose(ctx, t);
        expect(y.shape).toEqual([C, R]);
        expectClose(await ctx.read(y), transposeCpu(await ctx.read(t), R, C), { atol: 0, rtol: 0 });
        ctx.release(t, y);
      });
});
