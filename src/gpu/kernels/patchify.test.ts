import { describe, it } from 'vitest';
import { randn } from '../random';
import { asDtype, ctx, dtypes, expectClose } from '../testing/kernel-suite';
import { patchify, patchifyCpu } from './patchify';

describe('patchify', () => {
  for (const dtype of dtypes)
    for (const [F, S, p] of [
      [1, 14, 14],
      [2, 28, 14],
      [3, 21, 7],
      [1, 9, 1],
    ]) {
      it(`${dtype} F=${F} S=${S} p=${p}`, async () => {
        const x = asDtype(randn(F * 3 * S * S, F + S + p), dtype);
        const y = patchify(ctx, ctx.upload(x, [F, 3, S, S], dtype), p);
        // Pure data movement: exact.
        expectClose(await ctx.read(y), patchifyCpu(x, F, S, p), { atol: 0, rtol: 0 });
      });
    }
});
