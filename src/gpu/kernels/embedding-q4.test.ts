import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../compare';
import { randn, rng } from '../random';
import { ctx, dtypes, expectClose } from '../testing/kernel-suite';
import { embeddingQ4, embeddingQ4Cpu } from './embedding-q4';
import { type Q4Host, type Q4Options, uploadQ4 } from './quant/format';
import { quantizeQ4Cpu } from './quant/quantize-cpu';

/**
 * Tolerances. f32 output: exact with f16 scales ((q − 8)·s and q·s are exact in f32); with f32 scales
 * the asym q·s + min may round twice (1 ulp of |q·s| ≤ 15·s). f16 output: the f16 rounding of the
 * output, half an ulp (2⁻¹¹ relative), or 2⁻¹⁴ where the value is subnormal and a GPU may flush it.
 */
function tol(out: 'f32' | 'f16', q: Required<Q4Options>): Tolerance {
  if (out === 'f16') return { atol: 2 ** -14, rtol: 2 ** -11 + 1e-6 };
  return q.scaleDtype === 'f16' ? { atol: 0, rtol: 0 } : { atol: 1e-6, rtol: 0 };
}

/** T ids in [0, V + 3): mostly valid, some past the end, and the largest u32 (must not wrap into range). */
function randomIds(T: number, V: number, seed: number): Uint32Array {
  const r = rng(seed);
  const ids = Uint32Array.from({ length: T }, () => Math.floor(r() * (V + 3)));
  ids[0] = V - 1; // the last row of the last shard
  if (T > 2) ids[T - 1] = 0xffffffff;
  return ids;
}

/** A random table [ΣV_i, K] quantized shard by shard (rows are quantized independently anyway). */
function shardsOf(sizes: number[], K: number, q: Q4Options, seed: number): Q4Host[] {
  return sizes.map((V, i) => quantizeQ4Cpu(randn(V * K, seed + i, -2, 2), V, K, q));
}

interface Case {
  T: number;
  K: number;
  sizes: number[];
  q: Required<Q4Options>;
}

const sym = (groupSize: number, scaleDtype: 'f16' | 'f32') =>
  ({ groupSize, scheme: 'sym', scaleDtype }) as const;
const asym = (groupSize: number, scaleDtype: 'f16' | 'f32') =>
  ({ groupSize, scheme: 'asym', scaleDtype }) as const;

const CASES: Case[] = [
  { T: 7, K: 64, sizes: [11], q: sym(32, 'f16') },
  { T: 9, K: 72, sizes: [5, 1, 9], q: asym(32, 'f16') }, // K padded to 96
  { T: 9, K: 72, sizes: [4, 7, 2], q: sym(32, 'f32') },
  { T: 5, K: 64, sizes: [13], q: asym(32, 'f32') },
  { T: 6, K: 72, sizes: [3, 8, 5], q: asym(64, 'f16') }, // one group of 64 + a padded one
  { T: 4, K: 21, sizes: [2, 3, 1], q: sym(32, 'f16') }, // a row ends inside a packed word
];

describe('embeddingQ4', () => {
  for (const out of dtypes)
    for (const c of CASES) {
      const { T, K, sizes, q } = c;
      it(`out:${out} T=${T} K=${K} shards=[${sizes}] ${q.scheme} G=${q.groupSize} s:${q.scaleDtype}`, async () => {
        const V = sizes.reduce((a, b) => a + b);
        const host = shardsOf(sizes, K, q, T * 31 + K);
        const ids = randomIds(T, V, T + K);
        const shards = host.map((h) => uploadQ4(ctx, h));
        const y = embeddingQ4(
          ctx,
          ctx.upload(ids, [T], 'u32'),
          shards.length === 1 ? shards[0] : shards,
          out,
        );
        expect(y.shape).toEqual([T, K]);
        expect(y.dtype).toBe(out);
        const want = embeddingQ4Cpu(ids, host);
        expectClose(await ctx.read(y), want, tol(out, q));
        // Out-of-range rows are all zeros (not just close to them).
        const got = await ctx.read(y);
        for (let t = 0; t < T; t++)
          if (ids[t] >= V) expect(got.subarray(t * K, (t + 1) * K).every((v) => v === 0)).toBe(true);
      });
    }

  it('keeps the ids shape and overwrites a reused (dirty) output buffer', async () => {
    const K = 40;
    const dirty = ctx.upload(new Float32Array(6 * K).fill(7), [2, 3, K], 'f32');
    ctx.release(dirty); // the pool hands this buffer to the next [2, 3, 40] f32 tensor
    const host = shardsOf([4, 6], K, {}, 5);
    const ids = Uint32Array.of(9, 10, 0, 4, 3, 1e6);
    const y = embeddingQ4(
      ctx,
      ctx.upload(ids, [2, 3], 'u32'),
      host.map((h) => uploadQ4(ctx, h)),
      'f32',
    );
    expect(y.buffer).toBe(dirty.buffer);
    expect(y.shape).toEqual([2, 3, K]);
    expectClose(await ctx.read(y), embeddingQ4Cpu(ids, host), { atol: 0, rtol: 0 });
  });

  it('rejects shards that disagree', () => {
    const ids = ctx.upload(Uint32Array.of(0), [1], 'u32');
    const a = uploadQ4(ctx, quantizeQ4Cpu(randn(64, 1), 2, 32));
    const b = uploadQ4(ctx, quantizeQ4Cpu(randn(64, 1), 1, 64));
    const c = uploadQ4(ctx, quantizeQ4Cpu(randn(64, 1), 2, 32, { scheme: 'asym' }));
    expect(() => embeddingQ4(ctx, ids, [a, b], 'f32')).toThrow(/table: part 1/);
    expect(() => embeddingQ4(ctx, ids, [a, c], 'f32')).toThrow(/table: part 1/);
    expect(() => embeddingQ4(ctx, ids, [], 'f32')).toThrow(/no parts/);
    expect(() => embeddingQ4(ctx, ctx.empty([1], 'f32'), a, 'f32')).toThrow(/ids/);
  });
});
