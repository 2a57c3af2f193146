import { describe, expect, it } from 'vitest';
import { randn, rng } from '../random';
import { numericGrad } from '../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose, TOL, variants } from '../testing/kernel-suite';
import { rope, ropeBackward, ropeBackwardCpu, ropeCpu } from './rope';

// Tolerances: the suite's TOL. f32 (atol 1e-5, rtol 1e-4): angles are good to ~1e-6 rad even at
// large positions (see rope.ts), so |Δy| ≲ 1e-6·|x| plus sin/cos error. f16 (atol 2e-3, rtol 4e-3):
// the output is rounded to f16. The reference is f64 with exact angles.

function positionsFor(T: number, seed: number, max: number): Uint32Array {
  const r = rng(seed);
  const p = new Uint32Array(T);
  for (let t = 0; t < T; t++) p[t] = Math.floor(r() * max);
  if (T > 1) p[1] = max - 1; // the largest position is always present
  return p;
}

describe('rope', () => {
  // [T, H, D, max position, theta]
  const cases: [number, number, number, number, number][] = [
    [1, 1, 2, 1, 1e6], // position 0: identity
    [7, 3, 8, 3072, 1e6],
    [33, 2, 64, 3072, 1e4],
    [5, 16, 128, 3072, 1e6], // Qwen2.5-3B query heads
    [3, 1, 128, 100_000, 1e6], // beyond 2^16: both halves of the position split
    [2, 2, 6, 1 << 24, 1e6], // the largest supported position range
  ];
  for (const variant of variants)
    for (const dtype of dtypes)
      for (const [T, H, D, maxPos, theta] of cases) {
        it(`${variant} ${dtype} T=${T} H=${H} D=${D} pos<${maxPos} theta=${theta}`, async () => {
          const x = asDtype(randn(T * H * D, T * 131 + H * 7 + D, -3, 3), dtype);
          const pos = positionsFor(T, T + D, maxPos);
          const y = rope(ctx, ctx.upload(x, [T, H, D], dtype), ctx.upload(pos, [T], 'u32'), theta, variant);
          expect(y.shape).toEqual([T, H, D]);
          expectClose(await ctx.read(y), ropeCpu(x, pos, T, H, D, theta), TOL[dtype]);
        });
      }

  // Guards the exact angle reduction: a plain f32 pos·freq with built-in sin/cos errs by ~1e-4 here.
  it('f32 angle precision: |Δy| ≤ 2e-6 for |x| ≤ 1 up to pos 2^24 − 1', async () => {
    const [T, H, D] = [64, 1, 128];
    const x = randn(T * H * D, 17, -1, 1);
    for (const maxPos of [3072, 1 << 24]) {
      const pos = positionsFor(T, 18, maxPos);
      const y = rope(ctx, ctx.upload(x, [T, H, D], 'f32'), ctx.upload(pos, [T], 'u32'), 1e6);
      expectClose(await ctx.read(y), ropeCpu(x, pos, T, H, D, 1e6), { atol: 2e-6, rtol: 0 });
    }
  });

  it('position 0 leaves x unchanged and rotations preserve each pair’s norm', async () => {
    const [T, H, D] = [2, 3, 16];
    const x = randn(T * H * D, 9, -3, 3);
    const pos = new Uint32Array([0, 2999]);
    const y = await ctx.read(
      rope(ctx, ctx.upload(x, [T, H, D], 'f32'), ctx.upload(pos, [T], 'u32'), 1e6, 'flat'),
    );
    expectClose(y.subarray(0, H * D), x.subarray(0, H * D), { atol: 0, rtol: 0 });
    for (let j = H * D; j < T * H * D; j += D)
      for (let i = 0; i < D / 2; i++) {
        const before = Math.hypot(x[j + i], x[j + i + D / 2]);
        const after = Math.hypot(y[j + i], y[j + i + D / 2]);
        expect(Math.abs(after - before)).toBeLessThan(1e-5);
      }
  });

  it('rejects an odd head dim and mismatched positions', () => {
    const x = ctx.upload(new Float32Array(6), [1, 2, 3], 'f32');
    const pos = ctx.upload(new Uint32Array(1), [1], 'u32');
    expect(() => rope(ctx, x, pos, 1e6)).toThrow(/even/);
    const x2 = ctx.upload(new Float32Array(8), [2, 1, 4], 'f32');
    expect(() => rope(ctx, x2, pos, 1e6)).toThrow(/rope\.positions/);
  });
});

// Backward: the inverse rotation, with the forward's angles; tolerances as the forward's.
describe('ropeBackward', () => {
  const cases: [number, number, number, number][] = [
    [1, 1, 2, 1],
    [7, 3, 8, 3072],
    [5, 2, 128, 100_000],
  ];
  for (const dtype of dtypes)
    for (const [T, H, D, maxPos] of cases)
      it(`${dtype} T=${T} H=${H} D=${D} pos<${maxPos}`, async () => {
        const dY = asDtype(randn(T * H * D, T + H + D, -3, 3), dtype);
        const pos = positionsFor(T, T * 3 + D, maxPos);
        const dX = ropeBackward(ctx, ctx.upload(dY, [T, H, D], dtype), ctx.upload(pos, [T], 'u32'), 1e6);
        expect(dX.shape).toEqual([T, H, D]);
        expect(dX.dtype).toBe(dtype);
        expectClose(await ctx.read(dX), ropeBackwardCpu(dY, pos, T, H, D, 1e6), TOL[dtype]);
      });

  it('undoes the forward rotation on the GPU', async () => {
    const [T, H, D] = [6, 2, 16];
    const x = randn(T * H * D, 71, -3, 3);
    const pos = ctx.upload(positionsFor(T, 72, 3072), [T], 'u32');
    const y = rope(ctx, ctx.upload(x, [T, H, D], 'f32'), pos, 1e6);
    expectClose(await ctx.read(ropeBackward(ctx, y, pos, 1e6)), x, { atol: 2e-6, rtol: 0 });
  });

  it('CPU reference matches central differences of ropeCpu', () => {
    const [T, H, D] = [3, 2, 6];
    const x = randn(T * H * D, 73, -2, 2);
    const g = randn(T * H * D, 74);
    const pos = Uint32Array.of(0, 5, 1234);
    expectClose(
      ropeBackwardCpu(g, pos, T, H, D, 1e4),
      numericGrad((v) => ropeCpu(v, pos, T, H, D, 1e4), x, g),
      { atol: 1e-4, rtol: 1e-3 },
    );
  });

  it('rejects mismatched positions', () => {
    const dY = ctx.upload(new Float32Array(8), [2, 1, 4], 'f32');
    expect(() => ropeBackward(ctx, dY, ctx.upload(new Uint32Array(1), [1], 'u32'), 1e6)).toThrow(
      /ropeBackward\.positions/,
    );
  });
});
