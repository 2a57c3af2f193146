import { describe, expect, it } from 'vitest';
import { randn, rng } from '../random';
import { numericGrad } from '../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose, variants } from '../testing/kernel-suite';
import { logprobs, logprobsBackward, logprobsBackwardCpu, logprobsCpu } from './logprobs';

// Tolerances. Inputs reach the f64 reference with the GPU's own rounding (f16 logits are rounded first),
// so only f32 arithmetic differs: logp errs by the blocked sum (~1e-6 relative in s) plus the rounding
// of x − m − log s, |logp| ≲ 60 here: atol 2e-5, rtol 2e-6. dLogits: softmax_j = exp(x_j − lse) with
// lse = x_t − logp rounded to f32 (|lse| ≤ ~1050 with the offset rows, ulp 6e-5), so rtol 1e-4 and an
// atol for the 1 − p_t cancellation.
const LOGP_TOL = { atol: 2e-5, rtol: 2e-6 };
const DLOGITS_TOL = { atol: 1e-5, rtol: 1e-4 };

/** N targets in [0, V); the last is V + 7 (an ignored row) when N > 2. */
function randomTargets(N: number, V: number, seed: number): Uint32Array {
  const r = rng(seed);
  const t = Uint32Array.from({ length: N }, () => Math.floor(r() * V));
  if (N > 2) t[N - 1] = V + 7;
  return t;
}

// [N, V, lo, hi]: logits uniform in [lo, hi). A large offset checks the max subtraction; V = 151936 is
// Qwen2's vocabulary (flat sums it in one thread).
const cases: [number, number, number, number][] = [
  [1, 1, -1, 1],
  [5, 300, -30, 30],
  [3, 1000, 990, 1010],
  [2, 151936, -10, 20],
];

describe('logprobs', () => {
  for (const variant of variants)
    for (const dtype of dtypes)
      for (const [N, V, lo, hi] of cases)
        it(`${variant} ${dtype} N=${N} V=${V} logits in [${lo}, ${hi})`, async () => {
          const logits = asDtype(randn(N * V, N + V, lo, hi), dtype);
          const targets = randomTargets(N, V, V);
          const logp = logprobs(
            ctx,
            ctx.upload(logits, [N, V], dtype),
            ctx.upload(targets, [N], 'u32'),
            variant,
          );
          expect(logp.shape).toEqual([N]);
          expect(logp.dtype).toBe('f32');
          const got = await ctx.read(logp);
          expectClose(got, logprobsCpu(logits, targets, V), LOGP_TOL);
          if (N > 2) expect(got[N - 1]).toBe(0);
        });

  it('masked logits (−3.4e38) get probability 0 and no NaN', async () => {
    const V = 70;
    const logits = randn(2 * V, 3, -2, 2);
    for (let j = 0; j < V; j += 2) logits[j] = -3.4e38;
    const targets = Uint32Array.of(1, 5);
    for (const variant of variants) {
      const got = await ctx.read(
        logprobs(ctx, ctx.upload(logits, [2, V], 'f32'), ctx.upload(targets, [2], 'u32'), variant),
      );
      expectClose(got, logprobsCpu(logits, targets, V), LOGP_TOL);
    }
  });

  it('rejects mismatched targets', () => {
    const logits = ctx.upload(new Float32Array(6), [2, 3], 'f32');
    expect(() => logprobs(ctx, logits, ctx.upload(new Uint32Array(3), [3], 'u32'))).toThrow(/targets/);
    expect(() => logprobs(ctx, logits, ctx.upload(new Float32Array(2), [2], 'f32'))).toThrow(/targets/);
  });
});

describe('logprobsBackward', () => {
  for (const dtype of dtypes)
    for (const [N, V, lo, hi] of cases)
      it(`${dtype} N=${N} V=${V} logits in [${lo}, ${hi})`, async () => {
        const logits = asDtype(randn(N * V, N + V + 1, lo, hi), dtype);
        const targets = randomTargets(N, V, V + 1);
        const dLogp = randn(N, N + 2);
        const x = ctx.upload(logits, [N, V], dtype);
        const t = ctx.upload(targets, [N], 'u32');
        const logp = logprobs(ctx, x, t);
        const dLogits = logprobsBackward(ctx, ctx.upload(dLogp, [N], 'f32'), x, t, logp);
        expect(dLogits.shape).toEqual([N, V]);
        expect(dLogits.dtype).toBe('f32');
        const got = await ctx.read(dLogits);
        expectClose(got, logprobsBackwardCpu(dLogp, logits, targets, V), DLOGITS_TOL);
        // Each valid row sums to dLogp·(1 − Σ softmax) = 0.
        for (let r = 0; r < N; r++) {
          let s = 0;
          for (let j = 0; j < V; j++) s += got[r * V + j];
          expect(Math.abs(s)).toBeLessThan(1e-4);
        }
      });

  it('CPU reference matches central differences of logprobsCpu', () => {
    for (const [N, V] of [
      [1, 1],
      [3, 5],
      [2, 12],
    ]) {
      const logits = randn(N * V, 50 + V, -3, 3);
      const targets = randomTargets(N, V, 51 + V);
      const g = randn(N, 52 + V);
      expectClose(
        logprobsBackwardCpu(g, logits, targets, V),
        numericGrad((v) => logprobsCpu(v, targets, V), logits, g),
        { atol: 1e-4, rtol: 1e-3 },
      );
    }
  });
});
