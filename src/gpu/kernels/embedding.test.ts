import { describe, expect, it } from 'vitest';
import { randn, rng } from '../random';
import { numericGrad } from '../testing/grad-check';
import { asDtype, ctx, dtypes, expectClose, variants } from '../testing/kernel-suite';
import { embedding, embeddingBackward, embeddingBackwardCpu, embeddingCpu, groupById } from './embedding';

const EXACT = { atol: 0, rtol: 0 };

/** T ids in [0, V + 3): mostly valid, some past the end (those rows must come back as zeros). */
function randomIds(T: number, V: number, seed: number): Uint32Array {
  const r = rng(seed);
  const ids = Uint32Array.from({ length: T }, () => Math.floor(r() * (V + 3)));
  if (T > 2) ids[T - 1] = 0xffffffff; // the largest u32 must not wrap into range
  return ids;
}

/** Splits table [V, C] into row chunks of the given sizes and uploads each. */
function uploadChunks(table: Float32Array, C: number, sizes: number[], dtype: 'f32' | 'f16') {
  let off = 0;
  return sizes.map((rows) => {
    const t = ctx.upload(table.subarray(off * C, (off + rows) * C), [rows, C], dtype);
    off += rows;
    return t;
  });
}

describe('embedding', () => {
  // Copies are exact, so every comparison is exact; f16 rows of odd width take the element path.
  for (const variant of variants)
    for (const dtype of dtypes)
      for (const [T, C, sizes] of [
        [1, 1, [1]],
        [7, 33, [16]],
        [9, 64, [5, 7, 4]],
        [33, 1000, [3, 20]],
        [20, 7, [1, 1, 9]],
      ] as [number, number, number[]][]) {
        const V = sizes.reduce((a, b) => a + b);
        it(`${variant} ${dtype} T=${T} C=${C} chunks=[${sizes}]`, async () => {
          const table = randn(V * C, T + C, -2, 2);
          const ids = randomIds(T, V, T * 7 + C);
          const chunks = uploadChunks(table, C, sizes, dtype);
          const y = embedding(
            ctx,
            ctx.upload(ids, [T], 'u32'),
            chunks.length === 1 ? chunks[0] : chunks,
            variant,
          );
          expect(y.shape).toEqual([T, C]);
          expect(y.dtype).toBe(dtype);
          const want = embeddingCpu(ids, asDtype(table, dtype), C);
          expectClose(await ctx.read(y), want, EXACT);
        });
      }

  it('overwrites a reused (dirty) output buffer, zeroing out-of-range rows', async () => {
    const C = 5;
    const dirty = ctx.upload(new Float32Array(4 * C).fill(7), [4, C], 'f32');
    ctx.release(dirty); // the pool hands this buffer to the next [4, 5] f32 tensor
    const y = embedding(
      ctx,
      ctx.upload(Uint32Array.of(1, 9, 0, 2), [4], 'u32'),
      ctx.upload(randn(3 * C, 1), [3, C], 'f32'),
    );
    expect(y.buffer).toBe(dirty.buffer);
    expectClose(await ctx.read(y), embeddingCpu(Uint32Array.of(1, 9, 0, 2), randn(3 * C, 1), C), EXACT);
  });

  it('keeps the ids shape and splits large workgroup counts over two grid dimensions', async () => {
    const limits = ctx.summary.limits;
    const saved = limits.maxComputeWorkgroupsPerDimension;
    try {
      const [T, C, V] = [300, 24, 50];
      const table = randn(V * C, 3);
      const ids = randomIds(T, V, 4);
      for (const variant of variants) {
        // flat needs 113 workgroups, tiled 300: each exceeds its limit, fits its square, and overshoots.
        limits.maxComputeWorkgroupsPerDimension = variant === 'flat' ? 11 : 19;
        const y = embedding(
          ctx,
          ctx.upload(ids, [3, T / 3], 'u32'),
          uploadChunks(table, C, [20, 30], 'f32'),
          variant,
        );
        expect(y.shape).toEqual([3, T / 3, C]);
        expectClose(await ctx.read(y), embeddingCpu(ids, table, C), EXACT);
      }
    } finally {
      limits.maxComputeWorkgroupsPerDimension = saved;
    }
  });

  it('rejects chunks that disagree', () => {
    const ids = ctx.upload(Uint32Array.of(0), [1], 'u32');
    expect(() => embedding(ctx, ids, [ctx.empty([2, 4], 'f32'), ctx.empty([2, 5], 'f32')])).toThrow(
      /table\[1\]/,
    );
    expect(() => embedding(ctx, ctx.empty([1], 'f32'), ctx.empty([2, 4], 'f32'))).toThrow(/ids/);
  });
});

// Backward: sums of a few f32 values per element (ids repeat), against an f64 scatter-add of the same
// rounded dY: f32 rounding only.
describe('embeddingBackward', () => {
  const SUM_TOL = { atol: 1e-6, rtol: 1e-6 };
  for (const dtype of dtypes)
    for (const [T, C, V] of [
      [1, 1, 1],
      [7, 33, 5], // every id repeats
      [40, 64, 300],
      [9, 7, 1000], // most rows get no gradient
    ])
      it(`${dtype} T=${T} C=${C} V=${V}`, async () => {
        const ids = randomIds(T, V, T + C + V);
        const dY = asDtype(randn(T * C, T * C + 1), dtype);
        const dW = embeddingBackward(ctx, ctx.upload(dY, [T, C], dtype), ids, V);
        expect(dW.shape).toEqual([V, C]);
        expect(dW.dtype).toBe('f32');
        expectClose(await ctx.read(dW), embeddingBackwardCpu(dY, ids, V, C), SUM_TOL);
      });

  it('groupById is a stable counting sort that drops ids ≥ V', () => {
    const { start, order } = groupById(Uint32Array.of(2, 0, 2, 9, 0, 2), 3);
    expect([...start]).toEqual([0, 2, 2, 5]);
    expect([...order]).toEqual([1, 4, 0, 2, 5]);
  });

  it('CPU reference matches central differences of embeddingCpu', () => {
    const [T, C, V] = [6, 3, 4];
    const ids = Uint32Array.of(1, 3, 1, 0, 7, 1);
    const table = randn(V * C, 81);
    const g = randn(T * C, 82);
    expectClose(
      embeddingBackwardCpu(g, ids, V, C),
      numericGrad((v) => embeddingCpu(ids, v, C), table, g),
      { atol: 1e-5, rtol: 1e-4 },
    );
  });

  it('rejects a dY with the wrong number of rows', () => {
    expect(() =>
      embeddingBackward(ctx, ctx.upload(new Float32Array(6), [3, 2], 'f32'), Uint32Array.of(0, 1), 4),
    ).toThrow(/embeddingBackward\.dY/);
  });
});
