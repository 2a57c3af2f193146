import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../../compare';
import type { Variant } from '../../context';
import { randn } from '../../random';
import { asDtype, ctx, dtypes, expectClose, TOL, variants } from '../../testing/kernel-suite';
import { attention, attentionCpu } from './attention';
import { splitPlan } from './run';
import { chooseTile, sharedBytes } from './tiled';

/**
 * Tolerances: f32 — inputs exact, f32 accumulation and exp vs f64: TOL.f32 (1e-5 + 1e-4·|x|).
 * f16 — the reference gets the same f16-rounded inputs; the output is rounded to f16: TOL.f16.
 * Peaked softmax (scale 40, logits up to ~±10³): an f32 score error of ~1e-4 moves the weights by
 * ~1e-4 relative, hence atol 2e-4 for f32 there.
 */
const PEAKED: Record<'f32' | 'f16', Tolerance> = { f32: { atol: 2e-4, rtol: 1e-4 }, f16: TOL.f16 };

interface Case {
  B?: number;
  T: number;
  S: number;
  Hq: number;
  Hkv: number;
  D: number;
  causal: boolean;
  qOffset?: number;
  splits?: number | 'auto';
  scale?: number;
}

async function check(c: Case, variant: Variant, dtype: 'f32' | 'f16', tol = TOL[dtype], seed = 1) {
  const { B, T, S, Hq, Hkv, D } = c;
  const nb = B ?? 1;
  const q = asDtype(randn(nb * T * Hq * D, seed + T), dtype);
  const k = asDtype(randn(nb * S * Hkv * D, seed + S + 1), dtype);
  const v = asDtype(randn(nb * S * Hkv * D, seed + S + 2), dtype);
  const lead = B === undefined ? [] : [B];
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const opts = { causal: c.causal, scale, qOffset: c.qOffset, splits: c.splits ?? 1 };
  const y = attention(
    ctx,
    ctx.upload(q, [...lead, T, Hq, D], dtype),
    ctx.upload(k, [...lead, S, Hkv, D], dtype),
    ctx.upload(v, [...lead, S, Hkv, D], dtype),
    opts,
    variant,
  );
  expect(y.shape).toEqual([...lead, T, Hq, D]);
  expect(y.dtype).toBe(dtype);
  const want = attentionCpu(q, k, v, { B, T, S, Hq, Hkv, D, causal: c.causal, scale, qOffset: c.qOffset });
  expectClose(await ctx.read(y), want, tol);
}

const name = (c: Case) =>
  `${c.B ? `B=${c.B} ` : ''}T=${c.T} S=${c.S} Hq=${c.Hq}/${c.Hkv} D=${c.D} ${c.causal ? `causal@${c.qOffset ?? 0}` : 'full'}` +
  (c.splits && c.splits !== 1 ? ` splits=${c.splits}` : '');

const CASES: Case[] = [
  { T: 1, S: 1, Hq: 1, Hkv: 1, D: 8, causal: false },
  { T: 7, S: 33, Hq: 2, Hkv: 1, D: 6, causal: true, qOffset: 10 }, // D not a multiple of 4: flat's loop form
  { T: 7, S: 7, Hq: 2, Hkv: 1, D: 16, causal: true }, // row 0 sees only key 0
  { T: 7, S: 33, Hq: 4, Hkv: 2, D: 16, causal: true, qOffset: 26 }, // prefill continuing a cache
  { T: 33, S: 33, Hq: 8, Hkv: 1, D: 72, causal: true }, // GQA 8
  { T: 100, S: 100, Hq: 2, Hkv: 2, D: 8, causal: false },
  { T: 1, S: 100, Hq: 8, Hkv: 1, D: 16, causal: true, qOffset: 99 }, // one decode step
  { T: 100, S: 7, Hq: 2, Hkv: 1, D: 16, causal: false }, // T > S
  { T: 7, S: 100, Hq: 16, Hkv: 2, D: 128, causal: true, qOffset: 40 }, // Qwen heads; keys past 46 unused
  { B: 3, T: 33, S: 33, Hq: 2, Hkv: 2, D: 72, causal: false }, // SigLIP-like frames
  { B: 2, T: 7, S: 33, Hq: 8, Hkv: 1, D: 16, causal: true, qOffset: 5 },
  { B: 2, T: 32, S: 100, Hq: 8, Hkv: 8, D: 64, causal: false }, // resampler: latents over tokens+latents
];

const SPLIT_CASES: Case[] = [
  { T: 1, S: 100, Hq: 8, Hkv: 2, D: 16, causal: false, splits: 4 },
  { T: 7, S: 100, Hq: 4, Hkv: 1, D: 72, causal: true, qOffset: 20, splits: 5 }, // later splits empty
  { B: 2, T: 33, S: 33, Hq: 2, Hkv: 1, D: 8, causal: true, splits: 3 },
  { T: 1, S: 100, Hq: 2, Hkv: 1, D: 8, causal: false, splits: 'auto' },
];

/**
 * SwiftShader (the adapter without f16) compiles a shader's workgroup memory very slowly (Dawn's
 * zero-initialisation: seconds per 16 KiB), so there the tiled variant runs the small head dims only;
 * lavapipe runs every size with both variants.
 */
const skipTiled = (variant: Variant, D: number) => variant === 'tiled' && D >= 64 && !ctx.summary.f16;

describe('attention', () => {
  for (const variant of variants)
    for (const dtype of dtypes) {
      for (const c of [...CASES, ...SPLIT_CASES])
        it.skipIf(skipTiled(variant, c.D))(`${variant} ${dtype} ${name(c)}`, () => check(c, variant, dtype));
      it(`${variant} ${dtype} peaked softmax (scale 40)`, () =>
        check(
          { T: 7, S: 33, Hq: 4, Hkv: 2, D: 16, causal: true, qOffset: 3, scale: 40 },
          variant,
          dtype,
          PEAKED[dtype],
        ));
    }

  for (const variant of variants)
    it(`${variant} one dominant key gives its value row`, async () => {
      // Query 0 matches key 5 strongly (logit gap ~ 1e3): the output must be v[5] to f32 precision.
      const D = 8;
      const S = 9;
      const q = new Float32Array(D).fill(0);
      q[0] = 1;
      const k = randn(S * D, 7, -0.1, 0.1);
      k[5 * D] = 30;
      const v = randn(S * D, 8);
      const y = attention(
        ctx,
        ctx.upload(q, [1, 1, D], 'f32'),
        ctx.upload(k, [S, 1, D], 'f32'),
        ctx.upload(v, [S, 1, D], 'f32'),
        { causal: false, scale: 40 },
        variant,
      );
      expectClose(await ctx.read(y), v.subarray(5 * D, 6 * D), { atol: 1e-6, rtol: 1e-6 });
    });

  for (const variant of variants)
    it(`${variant} kvLengths: padded batch, full and causal`, async () => {
      const [B, T, S, Hq, Hkv, D] = [3, 5, 20, 4, 2, 16];
      const lens = [20, 9, 5];
      const q = randn(B * T * Hq * D, 11);
      const k = randn(B * S * Hkv * D, 12);
      const v = randn(B * S * Hkv * D, 13);
      for (const causal of [false, true]) {
        const y = attention(
          ctx,
          ctx.upload(q, [B, T, Hq, D], 'f32'),
          ctx.upload(k, [B, S, Hkv, D], 'f32'),
          ctx.upload(v, [B, S, Hkv, D], 'f32'),
          { causal, scale: 0.3, kvLengths: ctx.upload(new Uint32Array(lens), [B], 'u32'), splits: 1 },
          variant,
        );
        const want = attentionCpu(q, k, v, { B, T, S, Hq, Hkv, D, causal, scale: 0.3, kvLengths: lens });
        expectClose(await ctx.read(y), want, TOL.f32);
      }
    });

  it.skipIf(skipTiled('tiled', 128))(
    'tiled with a 16 KiB workgroup-memory limit (smaller tiles)',
    async () => {
      const limits = ctx.summary.limits;
      const saved = limits.maxComputeWorkgroupStorageSize;
      limits.maxComputeWorkgroupStorageSize = 16384;
      try {
        await check(
          { T: 7, S: 100, Hq: 16, Hkv: 2, D: 128, causal: true, qOffset: 93, splits: 2 },
          'tiled',
          'f32',
        );
      } finally {
        limits.maxComputeWorkgroupStorageSize = saved;
      }
    },
  );

  it('tile and split-K planning', () => {
    expect(chooseTile(128, 1000, 32768)).toEqual({ BR: 16, BC: 32 });
    expect(chooseTile(128, 1000, 16384)).toEqual({ BR: 8, BC: 16 });
    expect(sharedBytes(128, chooseTile(128, 1000, 16384))).toBeLessThanOrEqual(16384);
    expect(chooseTile(128, 8, 32768)).toEqual({ BR: 8, BC: 32 }); // decode: the 8 heads of one GQA group
    // Decode (2 workgroups) over 3072 keys splits; a SigLIP-sized grid does not.
    const dec = splitPlan('auto', 2, 'tiled', 3072, 32);
    expect(dec.nSplit).toBeGreaterThan(8);
    expect(dec.chunk % 32).toBe(0);
    expect(dec.nSplit * dec.chunk).toBeGreaterThanOrEqual(3072);
    expect(splitPlan('auto', 2000, 'tiled', 729, 32).nSplit).toBe(1);
    expect(splitPlan(1, 2, 'flat', 3072, 1)).toEqual({ nSplit: 1, chunk: 3072 });
    expect(splitPlan(5, 2, 'flat', 100, 1)).toEqual({ nSplit: 5, chunk: 20 });
  });

  it('rejects bad shapes', () => {
    const q = ctx.empty([2, 3, 8], 'f32');
    const kv = ctx.empty([4, 2, 8], 'f32');
    expect(() => attention(ctx, q, kv, kv, { causal: false, scale: 1 })).toThrow(/multiple/);
    const q2 = ctx.empty([2, 4, 8], 'f32');
    expect(() => attention(ctx, q2, kv, ctx.empty([4, 2, 4], 'f32'), { causal: false, scale: 1 })).toThrow(
      /attention\.v/,
    );
  });
});
