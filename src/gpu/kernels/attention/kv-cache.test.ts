import { describe, expect, it } from 'vitest';
import type { Variant } from '../../context';
import { roundToF16 } from '../../f16';
import { randn } from '../../random';
import { asDtype, ctx, dtypes, expectClose, TOL, variants } from '../../testing/kernel-suite';
import { attentionCpu } from './attention';
import {
  attentionDecode,
  attentionDecodeCpu,
  createKvCache,
  type KvCache,
  kvWrite,
  kvWriteCpu,
} from './kv-cache';

/** As in attention.test.ts: SwiftShader compiles big workgroup memory slowly; lavapipe runs every size tiled. */
const skipTiled = (variant: Variant, D: number) => variant === 'tiled' && D >= 64 && !ctx.summary.f16;

/** Tolerances as in attention.test.ts: TOL.f32 for f32, TOL.f16 (inputs and output rounded) for f16. */
const u32 = (xs: number[]) => ctx.upload(new Uint32Array(xs), [xs.length], 'u32');

/** A cache whose every row holds known values (so tests see what kvWrite left untouched). */
function filledCache(
  dims: { B: number; Smax: number; Hkv: number; D: number },
  dtype: 'f32' | 'f16',
  seed: number,
) {
  const n = dims.B * dims.Smax * dims.Hkv * dims.D;
  const k = asDtype(randn(n, seed), dtype);
  const v = asDtype(randn(n, seed + 1), dtype);
  const shape = [dims.B, dims.Smax, dims.Hkv, dims.D];
  const cache: KvCache = { ...dims, k: ctx.upload(k, shape, dtype), v: ctx.upload(v, shape, dtype) };
  return { cache, k, v };
}

describe('kvWrite', () => {
  const dims = { B: 2, Smax: 16, Hkv: 2, D: 8 };
  const T = 3;
  for (const dtype of dtypes)
    for (const start of [4, [0, 5], [13, 15]] as (number | number[])[]) {
      it(`${dtype} start=${JSON.stringify(start)}`, async () => {
        const { cache, k, v } = filledCache(dims, dtype, 3);
        const kn = asDtype(randn(dims.B * T * dims.Hkv * dims.D, 5), dtype);
        const vn = asDtype(randn(dims.B * T * dims.Hkv * dims.D, 6), dtype);
        const shape = [dims.B, T, dims.Hkv, dims.D];
        kvWrite(
          ctx,
          cache,
          ctx.upload(kn, shape, dtype),
          ctx.upload(vn, shape, dtype),
          typeof start === 'number' ? start : u32(start),
        );
        const starts = typeof start === 'number' ? [start, start] : start;
        kvWriteCpu(k, kn, { ...dims, T, starts }); // [13, 15]: rows past Smax are dropped
        kvWriteCpu(v, vn, { ...dims, T, starts });
        expectClose(await ctx.read(cache.k), k, { atol: 0, rtol: 0 });
        expectClose(await ctx.read(cache.v), v, { atol: 0, rtol: 0 });
      });
    }

  if (dtypes.includes('f16'))
    it('converts f32 rows into an f16 cache', async () => {
      const cache = createKvCache(ctx, { B: 1, Smax: 4, Hkv: 1, D: 8 }, 'f16');
      const kn = randn(4 * 8, 9, -100, 100);
      kvWrite(ctx, cache, ctx.upload(kn, [1, 4, 1, 8], 'f32'), ctx.upload(kn, [1, 4, 1, 8], 'f32'), 0);
      expectClose(await ctx.read(cache.k), roundToF16(kn), { atol: 0, rtol: 0 });
    });

  it('rejects rows that do not fit', () => {
    const cache = createKvCache(ctx, { B: 1, Smax: 4, Hkv: 1, D: 8 }, 'f32');
    const kn = ctx.empty([1, 3, 1, 8], 'f32');
    expect(() => kvWrite(ctx, cache, kn, kn, 2)).toThrow(/fit/);
  });
});

interface DecodeCase {
  B: number;
  T: number;
  Smax: number;
  Hq: number;
  Hkv: number;
  D: number;
  lengths: number[] | number;
}

async function checkDecode(c: DecodeCase, variant: Variant, dtype: 'f32' | 'f16', splits: number | 'auto') {
  const { B, T, Smax, Hq, Hkv, D } = c;
  const { cache, k, v } = filledCache(c, dtype, 21);
  const q = asDtype(randn(B * T * Hq * D, 22), dtype);
  const qShape = T === 1 ? [B, Hq, D] : [B, T, Hq, D];
  const lengths = typeof c.lengths === 'number' ? c.lengths : u32(c.lengths);
  const scale = 1 / Math.sqrt(D);
  const y = attentionDecode(ctx, ctx.upload(q, qShape, dtype), cache.k, cache.v, lengths, scale, {
    splits,
    variant,
  });
  expect(y.shape).toEqual(qShape);
  const lens = typeof c.lengths === 'number' ? new Array(B).fill(c.lengths) : c.lengths;
  const want = attentionDecodeCpu(q, k, v, { B, T, Smax, Hq, Hkv, D, lengths: lens, scale });
  expectClose(await ctx.read(y), want, TOL[dtype]);
}

const DECODE: DecodeCase[] = [
  { B: 3, T: 1, Smax: 48, Hq: 16, Hkv: 2, D: 16, lengths: [1, 17, 40] }, // GQA 8, ragged batch
  { B: 1, T: 1, Smax: 100, Hq: 16, Hkv: 2, D: 128, lengths: 70 }, // Qwen heads, host-known length
  { B: 2, T: 7, Smax: 40, Hq: 4, Hkv: 4, D: 72, lengths: [7, 33] }, // causal chunk at the end
];

describe('attentionDecode', () => {
  for (const variant of variants)
    for (const dtype of dtypes)
      for (const c of DECODE)
        for (const splits of c.D === 128 ? [3] : [1, 3]) {
          // D=128 only split (its plain path is in attention.test.ts): SwiftShader compiles big tiles slowly.
          const lens = JSON.stringify(c.lengths);
          it.skipIf(skipTiled(variant, c.D))(
            `${variant} ${dtype} B=${c.B} T=${c.T} Hq=${c.Hq}/${c.Hkv} D=${c.D} len=${lens} splits=${splits}`,
            () => checkDecode(c, variant, dtype, splits),
          );
        }

  for (const variant of variants)
    it(`${variant} split-K with many empty splits and auto`, async () => {
      // Smax 200 in chunks of ~25: the short rows leave most splits empty; 'auto' must split here (B·Hq = 2).
      const c = { B: 2, T: 1, Smax: 200, Hq: 1, Hkv: 1, D: 8, lengths: [3, 200] };
      await checkDecode(c, variant, 'f32', 8);
      await checkDecode(c, variant, 'f32', 'auto');
    });

  for (const variant of variants)
    it(`${variant} prefill, then decode steps with ragged lengths`, async () => {
      // Two sequences prefilled with 5 and 9 tokens (padded to 9), then 3 decode steps each.
      const [B, Smax, Hq, Hkv, D, P] = [2, 16, 4, 2, 8, 9];
      const prompt = [5, 9];
      const cache = createKvCache(ctx, { B, Smax, Hkv, D }, 'f32');
      const hostK = new Float32Array(B * Smax * Hkv * D);
      const hostV = new Float32Array(B * Smax * Hkv * D);
      const kp = randn(B * P * Hkv * D, 31);
      const vp = randn(B * P * Hkv * D, 32);
      kvWrite(ctx, cache, ctx.upload(kp, [B, P, Hkv, D], 'f32'), ctx.upload(vp, [B, P, Hkv, D], 'f32'), 0);
      kvWriteCpu(hostK, kp, { B, Smax, Hkv, D, T: P, starts: [0, 0] });
      kvWriteCpu(hostV, vp, { B, Smax, Hkv, D, T: P, starts: [0, 0] });
      const lens = [...prompt];
      for (let step = 0; step < 3; step++) {
        const kn = randn(B * Hkv * D, 40 + step);
        const vn = randn(B * Hkv * D, 50 + step);
        const q = randn(B * Hq * D, 60 + step);
        // The new row goes at position lens[b], overwriting prompt padding of the shorter sequence.
        kvWrite(
          ctx,
          cache,
          ctx.upload(kn, [B, 1, Hkv, D], 'f32'),
          ctx.upload(vn, [B, 1, Hkv, D], 'f32'),
          u32(lens),
        );
        kvWriteCpu(hostK, kn, { B, Smax, Hkv, D, T: 1, starts: lens });
        kvWriteCpu(hostV, vn, { B, Smax, Hkv, D, T: 1, starts: lens });
        for (let b = 0; b < B; b++) lens[b]++;
        const y = attentionDecode(ctx, ctx.upload(q, [B, Hq, D], 'f32'), cache.k, cache.v, u32(lens), 0.5, {
          variant,
          maxLength: Math.max(...lens),
        });
        const want = attentionCpu(q, hostK, hostV, {
          B,
          T: 1,
          S: Smax,
          Hq,
          Hkv,
          D,
          causal: true,
          scale: 0.5,
          kvLengths: lens,
        });
        expectClose(await ctx.read(y), want, TOL.f32);
      }
    });

  it('rejects a length beyond the cache', () => {
    const cache = createKvCache(ctx, { B: 1, Smax: 4, Hkv: 1, D: 8 }, 'f32');
    const q = ctx.empty([1, 2, 8], 'f32');
    expect(() => attentionDecode(ctx, q, cache.k, cache.v, 5, 1)).toThrow(/Smax/);
  });
});
