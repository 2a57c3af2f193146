import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../../compare';
import { randn } from '../../random';
import { numericGrad } from '../../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose } from '../../testing/kernel-suite';
import { type Q4Options, releaseQ4, uploadQ4 } from '../quant/format';
import { dequantizeQ4Cpu, quantizeQ4Cpu } from '../quant/quantize-cpu';
import { matmulCpu } from './matmul';
import {
  matmulBackward,
  matmulBackwardBias,
  matmulBackwardCpu,
  matmulBackwardInput,
  matmulBackwardWeight,
  matmulQ4BackwardInput,
} from './matmul-backward';

/**
 * As the forward's tolerance (matmul.test.ts): inputs in [−1, 1] reach the f64 reference already
 * rounded, so only f32 accumulation over the reduction length L (atol 1e-5·√L) and the rounding of an
 * f16 dX (rtol 1e-3) remain. dW and dB are f32.
 */
function tol(L: number, out: 'f32' | 'f16'): Tolerance {
  return { atol: 1e-5 * Math.sqrt(L), rtol: out === 'f16' ? 1e-3 : 1e-4 };
}

// [M, N, K]: sizes that are not multiples of the 64-thread workgroup, and a long reduction each way.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 5],
  [33, 7, 64],
  [130, 3, 100],
  [2, 300, 17],
  [70, 40, 33], // past GEMM_MIN_WORK: dX and dW on the forward's GEMM over transposes
];

describe('matmulBackward', () => {
  for (const act of dtypes)
    for (const wd of dtypes)
      for (const [M, N, K] of SHAPES)
        it(`x, dY:${act} w:${wd} M=${M} N=${N} K=${K}`, async () => {
          const seed = M * 1009 + N * 31 + K;
          const x = asDtype(randn(M * K, seed), act);
          const w = asDtype(randn(N * K, seed + 1), wd);
          const dY = asDtype(randn(M * N, seed + 2), act);
          const { dX, dW, dB } = matmulBackward(
            ctx,
            ctx.upload(dY, [M, N], act),
            ctx.upload(x, [M, K], act),
            ctx.upload(w, [N, K], wd),
            true,
          );
          expect([dX.shape, dW.shape, dB?.shape]).toEqual([[M, K], [N, K], [N]]);
          expect([dX.dtype, dW.dtype, dB?.dtype]).toEqual([act, 'f32', 'f32']);
          const want = matmulBackwardCpu(dY, x, w, M, N, K);
          expectClose(await ctx.read(dX), want.dX, tol(N, act));
          expectClose(await ctx.read(dW), want.dW, tol(M, 'f32'));
          if (dB) expectClose(await ctx.read(dB), want.dB, tol(M, 'f32'));
        });

  it('keeps leading dims: dY [2, 3, N], x [2, 3, K]', async () => {
    const [M, N, K] = [6, 5, 9];
    const x = randn(M * K, 1);
    const w = randn(N * K, 2);
    const dY = randn(M * N, 3);
    const dYt = ctx.upload(dY, [2, 3, N], 'f32');
    const dX = matmulBackwardInput(ctx, dYt, ctx.upload(w, [N, K], 'f32'));
    const dW = matmulBackwardWeight(ctx, dYt, ctx.upload(x, [2, 3, K], 'f32'));
    expect(dX.shape).toEqual([2, 3, K]);
    const want = matmulBackwardCpu(dY, x, w, M, N, K);
    expectClose(await ctx.read(dX), want.dX, tol(N, 'f32'));
    expectClose(await ctx.read(dW), want.dW, tol(M, 'f32'));
    expectClose(await ctx.read(matmulBackwardBias(ctx, dYt)), want.dB, tol(M, 'f32'));
  });

  it('CPU reference matches central differences of matmulCpu', () => {
    const [M, N, K] = [3, 4, 5];
    const x = randn(M * K, 11);
    const w = randn(N * K, 12);
    const b = randn(N, 13);
    const g = randn(M * N, 14);
    const want = matmulBackwardCpu(g, x, w, M, N, K);
    const fd = { atol: 1e-4, rtol: 1e-3 };
    expectClose(
      want.dX,
      numericGrad((v) => matmulCpu(v, w, b, M, N, K), x, g),
      fd,
    );
    expectClose(
      want.dW,
      numericGrad((v) => matmulCpu(x, v, b, M, N, K), w, g),
      fd,
    );
    expectClose(
      want.dB,
      numericGrad((v) => matmulCpu(x, w, v, M, N, K), b, g),
      fd,
    );
  });

  it('rejects mismatched shapes', () => {
    const dY = ctx.upload(new Float32Array(6), [2, 3], 'f32');
    expect(() => matmulBackwardInput(ctx, dY, ctx.upload(new Float32Array(8), [4, 2], 'f32'))).toThrow(
      /matmulBackwardInput\.w/,
    );
    expect(() => matmulBackwardWeight(ctx, dY, ctx.upload(new Float32Array(8), [4, 2], 'f32'))).toThrow(
      /matmulBackwardWeight\.x/,
    );
  });
});

// dX through a 4-bit weight: the reference is dY·ŵ with ŵ from the CPU dequantizer (the values the GPU
// decodes), so the tolerance is the plain dX's. K = 40 and 100 leave padded groups.
describe('matmulQ4BackwardInput', () => {
  const formats: Q4Options[] = [
    { scheme: 'sym', scaleDtype: 'f16', groupSize: 32 },
    { scheme: 'asym', scaleDtype: 'f16', groupSize: 64 },
    { scheme: 'sym', scaleDtype: 'f32', groupSize: 64 },
    { scheme: 'asym', scaleDtype: 'f32', groupSize: 32 },
  ];
  for (const dtype of dtypes)
    for (const fmt of formats)
      for (const [M, N, K] of [
        [3, 7, 40],
        [65, 33, 100],
      ])
        it(`dY:${dtype} ${fmt.scheme} s:${fmt.scaleDtype} G=${fmt.groupSize} M=${M} N=${N} K=${K}`, async () => {
          const h = quantizeQ4Cpu(randn(N * K, M + N + K, -1, 1), N, K, fmt);
          const dY = asDtype(randn(M * N, M + N), dtype);
          const w = uploadQ4(ctx, h);
          const dX = matmulQ4BackwardInput(ctx, ctx.upload(dY, [M, N], dtype), w);
          expect(dX.shape).toEqual([M, K]);
          expect(dX.dtype).toBe(dtype);
          const want = matmulBackwardCpu(dY, new Float32Array(M * K), dequantizeQ4Cpu(h), M, N, K).dX;
          expectClose(await ctx.read(dX), want, tol(N, dtype));
          releaseQ4(ctx, w);
        });
});
