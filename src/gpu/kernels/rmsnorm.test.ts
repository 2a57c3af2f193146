import { describe, it } from 'vitest';
import { asDtype, ctx, dtypes, expectClose, TOL, variants } from '../testing/kernel-suite';
import { randn } from '../testing/random';
import { rmsnorm, rmsnormCpu } from './rmsnorm';

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
