import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../../compare';
import { randn } from '../../random';
import { numericGrad } from '../../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose, TOL } from '../../testing/kernel-suite';
import { attentionCpu } from './attention';
import { attentionBackward, attentionBackwardCpu } from './backward';

/**
 * Tolerances. f32: scores, P and the sums over keys (dQ) or queries and heads (dK, dV) in f32 against
 * f64 on the same inputs; gradients are O(1) here (inputs in [−1, 1]), sums of up to ~140 terms:
 * atol 2e-5, rtol 1e-4. f16: the same f32 math on the same rounded inputs, gradients rounded to f16: TOL.f16.
 */
const GRAD_TOL: Record<'f32' | 'f16', Tolerance> = { f32: { atol: 2e-5, rtol: 1e-4 }, f16: TOL.f16 };

interface Case {
  B?: number;
  T: number;
  S: number;
  Hq: number;
  Hkv: number;
  D: number;
  causal: boolean;
  qOffset?: number;
}

// Two head dims only (6 and 8): each dims × dtype compiles three pipelines, slow on software adapters.
const CASES: Case[] = [
  { T: 1, S: 1, Hq: 1, Hkv: 1, D: 8, causal: false },
  { T: 7, S: 7, Hq: 4, Hkv: 2, D: 6, causal: true }, // GQA, prefill from position 0
  { T: 5, S: 12, Hq: 2, Hkv: 1, D: 8, causal: true, qOffset: 7 }, // continuing a cache
  { B: 2, T: 9, S: 9, Hq: 3, Hkv: 1, D: 6, causal: false }, // a batch, full attention
  { T: 70, S: 70, Hq: 2, Hkv: 2, D: 8, causal: true }, // more rows than one 64-thread workgroup
];

const name = (c: Case) =>
  `${c.B ? `B=${c.B} ` : ''}T=${c.T} S=${c.S} Hq=${c.Hq}/${c.Hkv} D=${c.D} ${c.causal ? `causal@${c.qOffset ?? 0}` : 'full'}`;

describe('attentionBackward', () => {
  for (const dtype of dtypes)
    for (const c of CASES)
      it(`${dtype} ${name(c)}`, async () => {
        const { B, T, S, Hq, Hkv, D } = c;
        const nb = B ?? 1;
        const seed = T * 101 + S * 7 + D;
        const q = asDtype(randn(nb * T * Hq * D, seed), dtype);
        const k = asDtype(randn(nb * S * Hkv * D, seed + 1), dtype);
        const v = asDtype(randn(nb * S * Hkv * D, seed + 2), dtype);
        const dO = asDtype(randn(nb * T * Hq * D, seed + 3), dtype);
        const lead = B === undefined ? [] : [B];
        const scale = 1 / Math.sqrt(D);
        const qShape = [...lead, T, Hq, D];
        const kvShape = [...lead, S, Hkv, D];
        const { dQ, dK, dV } = attentionBackward(
          ctx,
          ctx.upload(dO, qShape, dtype),
          ctx.upload(q, qShape, dtype),
          ctx.upload(k, kvShape, dtype),
          ctx.upload(v, kvShape, dtype),
          { causal: c.causal, scale, qOffset: c.qOffset },
        );
        expect([dQ.shape, dK.shape, dV.shape]).toEqual([qShape, kvShape, kvShape]);
        expect(dQ.dtype).toBe(dtype);
        const want = attentionBackwardCpu(dO, q, k, v, { ...c, scale });
        expectClose(await ctx.read(dQ), want.dQ, GRAD_TOL[dtype]);
        expectClose(await ctx.read(dK), want.dK, GRAD_TOL[dtype]);
        expectClose(await ctx.read(dV), want.dV, GRAD_TOL[dtype]);
      });

  it('keys no query sees get zero gradients (causal, S > qOffset + T)', async () => {
    const [T, S, H, D] = [3, 8, 1, 8];
    const up = (n: number, seed: number, shape: number[]) => ctx.upload(randn(n, seed), shape, 'f32');
    const { dK, dV } = attentionBackward(
      ctx,
      up(T * H * D, 1, [T, H, D]),
      up(T * H * D, 2, [T, H, D]),
      up(S * H * D, 3, [S, H, D]),
      up(S * H * D, 4, [S, H, D]),
      { causal: true, scale: 0.5, qOffset: 2 },
    );
    // Queries see keys 0..4; keys 5, 6, 7 are never attended.
    for (const t of [dK, dV])
      expect([...(await ctx.read(t)).subarray(5 * D)].every((x) => x === 0)).toBe(true);
  });

  it('CPU reference matches central differences of attentionCpu', () => {
    const cases: Case[] = [
      { T: 3, S: 5, Hq: 2, Hkv: 1, D: 3, causal: true, qOffset: 1 },
      { B: 2, T: 2, S: 3, Hq: 2, Hkv: 2, D: 2, causal: false },
    ];
    for (const c of cases) {
      const nb = c.B ?? 1;
      const dims = { ...c, scale: 0.7 };
      const q = randn(nb * c.T * c.Hq * c.D, 91, -2, 2);
      const k = randn(nb * c.S * c.Hkv * c.D, 92, -2, 2);
      const v = randn(nb * c.S * c.Hkv * c.D, 93, -2, 2);
      const g = randn(nb * c.T * c.Hq * c.D, 94);
      const want = attentionBackwardCpu(g, q, k, v, dims);
      const fd = { atol: 2e-4, rtol: 2e-3 };
      expectClose(
        want.dQ,
        numericGrad((x) => attentionCpu(x, k, v, dims), q, g),
        fd,
      );
      expectClose(
        want.dK,
        numericGrad((x) => attentionCpu(q, x, v, dims), k, g),
        fd,
      );
      expectClose(
        want.dV,
        numericGrad((x) => attentionCpu(q, k, x, dims), v, g),
        fd,
      );
    }
  });

  it('rejects mismatched shapes', () => {
    const q = ctx.upload(new Float32Array(8), [2, 1, 4], 'f32');
    const kv = ctx.upload(new Float32Array(12), [3, 1, 4], 'f32');
    const bad = ctx.upload(new Float32Array(12), [3, 1, 4], 'f32');
    expect(() => attentionBackward(ctx, bad, q, kv, kv, { causal: true, scale: 1 })).toThrow(
      /attentionBackward\.dO/,
    );
  });
});
