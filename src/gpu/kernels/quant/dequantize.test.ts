import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../f16';
import { rng } from '../../random';
import { ctx, dtypes } from '../../testing/kernel-suite';
import { dequantizeQ4 } from './dequantize';
import { type Q4ScaleDtype, type Q4Scheme, uploadQ4 } from './format';
import { dequantizeQ4Cpu, quantizeQ4Cpu } from './quantize-cpu';

// Odd row counts, K not a multiple of the group (padded groups), more than one group per row.
const SHAPES: [number, number][] = [
  [1, 32],
  [7, 100],
  [5, 200],
];

describe('dequantizeQ4 (GPU) matches dequantizeQ4Cpu', () => {
  for (const scheme of ['sym', 'asym'] as Q4Scheme[])
    for (const scaleDtype of ['f16', 'f32'] as Q4ScaleDtype[])
      for (const groupSize of [32, 64])
        for (const [N, K] of SHAPES)
          for (const dtype of dtypes)
            it(`${scheme} scales:${scaleDtype} G=${groupSize} [${N}, ${K}] → ${dtype}`, async () => {
              const r = rng(N * 131 + K);
              const w = Float32Array.from({ length: N * K }, (_, i) => (r() - 0.5) * (1 + (i % 7)));
              const h = quantizeQ4Cpu(w, N, K, { scheme, scaleDtype, groupSize });
              const got = await ctx.read(dequantizeQ4(ctx, uploadQ4(ctx, h), dtype));
              const want = dequantizeQ4Cpu(h);
              // f32: CPU rounds q·scale + min once from f64, the GPU twice in f32 (a few ulps of the
              // group's range where the sum cancels); f16: one more rounding of the output.
              const exp = dtype === 'f16' ? roundToF16(want) : want;
              const tol = dtype === 'f16' ? 1e-3 : 1e-6;
              const range = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
              let worst = 0;
              for (let i = 0; i < want.length; i++)
                worst = Math.max(worst, Math.abs(got[i] - exp[i]) / (Math.abs(exp[i]) + range));
              expect(worst).toBeLessThan(tol);
              expect(got.length).toBe(N * K);
            });
});
