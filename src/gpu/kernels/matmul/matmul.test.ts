import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../../compare';
import type { Variant } from '../../context';
import { randn } from '../../random';
import type { Tensor } from '../../tensor';
import { asDtype, ctx, dtypes, expectClose, variants } from '../../testing/kernel-suite';
import { GEMV_MAX_M, type MatmulKernel, matmul, matmulCpu, matmulWith } from './matmul';

/**
 * Tolerance for y = x·wᵀ + bias with inputs in [-1, 1]. The reference runs in f64 on the very values the
 * GPU sees (f16 inputs rounded before both), so the only differences are (1) f32 accumulation and
 * (2) rounding y to its dtype. (1): each of K f32 adds errs by ≤ 2⁻²⁴ of a partial sum whose size grows
 * like √k, and the errors have random signs, so the total stays well under 1e-5·√K. (2): f16 keeps 11
 * significant bits, 2⁻¹¹ ≈ 4.9e-4 relative, hence rtol 1e-3 for f16 outputs. |y| itself grows like √K/3,
 * which is why the absolute part scales with √K rather than being fixed.
 */
function tol(K: number, out: 'f32' | 'f16'): Tolerance {
  return { atol: 1e-5 * Math.sqrt(K), rtol: out === 'f16' ? 1e-3 : 1e-4 };
}

async function check(
  M: number,
  N: number,
  K: number,
  act: 'f32' | 'f16',
  wd: 'f32' | 'f16',
  withBias: boolean,
  run: (x: Tensor, w: Tensor, bias: Tensor | null) => Tensor,
  xShape: number[] = [M, K],
): Promise<void> {
  const seed = M * 1000003 + N * 1009 + K;
  const x = asDtype(randn(M * K, seed), act);
  const w = asDtype(randn(N * K, seed + 1), wd);
  const b = withBias ? asDtype(randn(N, seed + 2), wd) : null;
  const y = run(ctx.upload(x, xShape, act), ctx.upload(w, [N, K], wd), b && ctx.upload(b, [N], wd));
  expect(y.shape).toEqual([...xShape.slice(0, -1), N]);
  expect(y.dtype).toBe(act);
  expectClose(await ctx.read(y), matmulCpu(x, w, b, M, N, K), tol(K, act));
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 33, 7],
  [7, 33, 1000],
  [33, 7, 64],
  [4, 1000, 33],
];

describe('matmul', () => {
  for (const variant of variants)
    for (const act of dtypes)
      for (const wd of dtypes)
        for (const [M, N, K] of SHAPES)
          for (const withBias of [false, true]) {
            const kernel = M <= GEMV_MAX_M ? 'gemv' : 'gemm';
            it(`${variant} x:${act} w:${wd} M=${M} N=${N} K=${K}${withBias ? ' +bias' : ''} (${kernel})`, () =>
              check(M, N, K, act, wd, withBias, (x, w, b) => matmul(ctx, x, w, b, variant)));
          }

  // Each kernel on the other side of the automatic switch, so both are covered at odd sizes.
  const forced: [MatmulKernel, number, number, number][] = [
    ['gemm', 1, 70, 9],
    ['gemm', 3, 65, 128],
    ['gemm', 65, 66, 17],
    ['gemv', 2, 130, 132],
    ['gemv', 3, 5, 1000],
  ];
  for (const variant of variants)
    for (const act of dtypes)
      for (const [kernel, M, N, K] of forced) {
        it(`${variant} ${kernel} forced x:${act} M=${M} N=${N} K=${K} +bias`, () =>
          check(M, N, K, act, act, true, (x, w, b) => matmulWith(ctx, x, w, b, variant, kernel)));
      }

  for (const variant of variants)
    it(`${variant} keeps leading dims: x [2, 3, 40] → [2, 3, 12]`, () =>
      check(6, 12, 40, 'f32', 'f32', false, (x, w, b) => matmul(ctx, x, w, b, variant), [2, 3, 40]));

  // Workgroup counts past one grid dimension, under a lowered limit so it stays cheap: each count below
  // exceeds its limit, fits its square, and overshoots (the extra workgroups must write nothing).
  const gridded: [Variant, MatmulKernel, number, number, number, number][] = [
    ['flat', 'gemv', 2, 130, 12, 2], // 3 workgroups
    ['tiled', 'gemv', 2, 130, 12, 12], // 130 workgroups
    ['flat', 'gemm', 65, 66, 17, 2], // 17 × 9 blocks of 4×8 → 3 workgroups
  ];
  for (const [variant, kernel, M, N, K, limit] of gridded)
    it(`${variant} ${kernel} splits workgroups over two grid dimensions (limit ${limit})`, async () => {
      const limits = ctx.summary.limits;
      const saved = limits.maxComputeWorkgroupsPerDimension;
      limits.maxComputeWorkgroupsPerDimension = limit;
      try {
        await check(M, N, K, 'f32', 'f32', true, (x, w, b) => matmulWith(ctx, x, w, b, variant, kernel));
      } finally {
        limits.maxComputeWorkgroupsPerDimension = saved;
      }
    });

  // f16 inputs summed into an f32 y (a projection feeding the f32 residual stream): inputs up to ±300,
  // so y passes f16's range; the tolerance is the f32 one scaled by the products' size (300²).
  if (dtypes.includes('f16'))
    for (const variant of variants)
      for (const [M, N, K] of [
        [1, 33, 7],
        [4, 1000, 33],
        [33, 7, 64],
      ])
        it(`${variant} x:f16 w:f16 → y:f32 M=${M} N=${N} K=${K} (values past 65504)`, async () => {
          const x = asDtype(randn(M * K, M + K, -300, 300), 'f16');
          const w = asDtype(randn(N * K, N + K, -300, 300), 'f16');
          const y = matmul(
            ctx,
            ctx.upload(x, [M, K], 'f16'),
            ctx.upload(w, [N, K], 'f16'),
            null,
            variant,
            'f32',
          );
          expect(y.dtype).toBe('f32');
          const want = matmulCpu(x, w, null, M, N, K);
          expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(65504);
          expectClose(await ctx.read(y), want, { atol: 9e4 * 1e-5 * Math.sqrt(K), rtol: 1e-4 });
        });

  it('rejects mismatched shapes', () => {
    const x = ctx.empty([2, 8], 'f32');
    expect(() => matmul(ctx, x, ctx.empty([3, 9], 'f32'), null)).toThrow(/matmul.w/);
    expect(() => matmul(ctx, x, ctx.empty([3, 8], 'f32'), ctx.empty([4], 'f32'))).toThrow(/matmul.bias/);
    expect(() =>
      matmulWith(ctx, ctx.empty([5, 8], 'f32'), ctx.empty([3, 8], 'f32'), null, 'flat', 'gemv'),
    ).toThrow(/gemv/);
  });
});
