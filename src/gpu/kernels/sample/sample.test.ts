import { describe, expect, it } from 'vitest';
import { randn, rng } from '../../random';
import { asDtype, ctx, dtypes, variants } from '../../testing/kernel-suite';
import { type GpuSampling, sampleRowCpu, sampleToHost } from './sample';

const greedy: GpuSampling = { mode: 'greedy', k: 1, topP: 1, invTemperature: 0, penalty: 1 };
const topk = (k: number, temperature: number, topP = 1, penalty = 1): GpuSampling => ({
  mode: 'topk',
  k,
  topP,
  invTemperature: 1 / temperature,
  penalty,
});
const full = (temperature: number, penalty = 1): GpuSampling => ({
  mode: 'full',
  k: 0,
  topP: 1,
  invTemperature: 1 / temperature,
  penalty,
});

/** Uniforms exactly representable in f32 (24 bits), as SamplerRng makes them. */
function uniforms(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * 16777216) / 16777216);
}

/** Logits with repeated values, so ties (→ lower id) are exercised. */
function logitsWithTies(n: number, seed: number): Float32Array {
  const x = randn(n, seed, -4, 4);
  for (let i = 0; i < n; i += 5) x[i] = Math.round(x[i]);
  return x;
}

async function expectSameAsCpu(
  x: Float32Array,
  B: number,
  s: GpuSampling,
  dtype: 'f32' | 'f16',
  variant: 'flat' | 'tiled',
  us: number[],
  prev: Uint32Array | null = null,
): Promise<void> {
  const V = x.length / B;
  const L = prev ? prev.length / B : 0;
  const logits = ctx.upload(x, [B, V], dtype);
  const prevT = prev ? ctx.upload(prev, [B, L], 'u32') : null;
  const got = await sampleToHost(ctx, logits, s, prevT, us, variant);
  ctx.release(logits, ...(prevT ? [prevT] : []));
  const want = Array.from({ length: B }, (_, b) =>
    sampleRowCpu(x.subarray(b * V, (b + 1) * V), s, prev ? prev.subarray(b * L, (b + 1) * L) : null, us[b]),
  );
  expect(Array.from(got)).toEqual(want);
}

/** B copies of one row, so one dispatch checks B uniforms on the same distribution. */
const tile = (row: Float32Array, B: number) => {
  const out = new Float32Array(row.length * B);
  for (let b = 0; b < B; b++) out.set(row, b * row.length);
  return out;
};

describe('sample', () => {
  for (const variant of variants)
    for (const dtype of dtypes) {
      const tag = `${variant} ${dtype}`;
      for (const V of [1, 7, 1000, 2500]) {
        it(`${tag} greedy = argmax, ties → lowest id, V=${V}`, async () => {
          const x = asDtype(logitsWithTies(3 * V, V), dtype);
          await expectSameAsCpu(x, 3, greedy, dtype, variant, [0.5, 0.5, 0.5]);
          // and the CPU reference is the plain argmax
          for (let b = 0; b < 3; b++) {
            const row = x.subarray(b * V, (b + 1) * V);
            let best = 0;
            for (let i = 1; i < V; i++) if (row[i] > row[best]) best = i;
            expect(sampleRowCpu(row, greedy, null, 0.5)).toBe(best);
          }
        });
      }

      it(`${tag} all-equal logits → id 0; top-k 1 = greedy when the max is unique`, async () => {
        const flat = new Float32Array(2 * 1500).fill(0.25);
        await expectSameAsCpu(flat, 2, greedy, dtype, variant, [0.1, 0.9]);
        const x = asDtype(randn(2 * 1000, 11, -4, 4), dtype);
        x[17] = 5;
        x[1000 + 999] = 5;
        const us = [0.99, 0.01];
        const a = await sampleToHost(ctx, ctx.upload(x, [2, 1000], dtype), topk(1, 0.7), null, us, variant);
        const g = await sampleToHost(ctx, ctx.upload(x, [2, 1000], dtype), greedy, null, us, variant);
        expect(Array.from(a)).toEqual(Array.from(g));
      });

      for (const V of [7, 1000]) {
        it(`${tag} top-k/top-p draw matches the CPU for the same uniforms, V=${V}`, async () => {
          const B = 8;
          const row = asDtype(randn(V, V + 3, -3, 3), dtype);
          for (const s of [topk(50, 1), topk(5, 0.7, 0.9), topk(256, 1.3, 0.8), topk(3, 0.5)]) {
            await expectSameAsCpu(tile(row, B), B, s, dtype, variant, uniforms(B, V + s.k));
          }
        });

        it(`${tag} full-vocabulary draw matches the CPU, V=${V}`, async () => {
          const B = 8;
          const row = asDtype(randn(V, V + 5, -3, 3), dtype);
          await expectSameAsCpu(tile(row, B), B, full(1), dtype, variant, uniforms(B, V));
          await expectSameAsCpu(tile(row, B), B, full(0.6), dtype, variant, uniforms(B, V + 1));
        });
      }

      it(`${tag} top-k keeps every id tied with the k-th value, across chunks (as HF)`, async () => {
        // Top 5: ids 10, 20, then 1.0 at 100, 700, 1100; 1500, 2049, 2300 and 2499 tie with the 5th.
        const V = 2500;
        const row = asDtype(randn(V, 21, -3, 0.5), dtype);
        row[10] = 3;
        row[20] = 2.5;
        const tied = [100, 700, 1100, 1500, 2049, 2300, 2499];
        for (const i of tied) row[i] = 1;
        const B = 16;
        const us = Array.from({ length: B }, (_, b) => (b + 0.5) / B);
        const got = await sampleToHost(
          ctx,
          ctx.upload(tile(row, B), [B, V], dtype),
          topk(5, 1),
          null,
          us,
          variant,
        );
        const want = us.map((u) => sampleRowCpu(row, topk(5, 1), null, u));
        expect(Array.from(got)).toEqual(want);
        // Cumulative mass in rank order: 10 0.39, 20 0.63, then 0.053 per tied id; the last uniforms
        // land past the 5th candidate (1100), on the ids tied with it.
        const ranked = [...new Array(6).fill(10), ...new Array(4).fill(20), 100, 700, 1100, 2049, 2300, 2499];
        expect(want).toEqual(ranked);
        // Top-p cuts inside the ties: the mass before 2049 is 0.84 < 0.85, before 2300 0.89.
        await expectSameAsCpu(tile(row, B), B, topk(5, 1, 0.85), dtype, variant, us);
        expect(sampleRowCpu(row, topk(5, 1, 0.85), null, 0.999)).toBe(2049);
        // With the penalty, from the penalised row (10 falls to 2 and 20 leads).
        await expectSameAsCpu(
          tile(row, B),
          B,
          topk(5, 1, 0.85, 1.5),
          dtype,
          variant,
          us,
          new Uint32Array(B).fill(10),
        );
      });

      it(`${tag} top-k 1 draws among the ids tied at the max; greedy takes the lowest`, async () => {
        const V = 2500;
        const row = asDtype(randn(V, 23, -3, 1), dtype);
        for (const i of [3, 1500, 2400]) row[i] = 2;
        const us = [0.1, 0.5, 0.9];
        const s = topk(1, 0.8);
        await expectSameAsCpu(tile(row, 3), 3, s, dtype, variant, us);
        expect(us.map((u) => sampleRowCpu(row, s, null, u))).toEqual([3, 1500, 2400]);
        await expectSameAsCpu(tile(row, 3), 3, greedy, dtype, variant, us);
        expect(sampleRowCpu(row, greedy, null, 0.9)).toBe(3);
      });

      it(`${tag} top-k over all-equal logits draws from the whole row`, async () => {
        const V = 1500;
        const flat = new Float32Array(V).fill(0.25);
        const us = [0, 0.3, 0.6, 0.999];
        await expectSameAsCpu(tile(flat, 4), 4, topk(50, 1), dtype, variant, us);
        expect(us.map((u) => sampleRowCpu(flat, topk(50, 1), null, u))).toEqual([0, 450, 900, 1498]);
        // Top-p 0.5003 keeps the ids before which the mass is < 0.5003: 0..750.
        await expectSameAsCpu(tile(flat, 4), 4, topk(50, 1, 0.5003), dtype, variant, us);
        expect(us.map((u) => sampleRowCpu(flat, topk(50, 1, 0.5003), null, u))).toEqual([0, 225, 450, 750]);
      });

      it(`${tag} repetition penalty (history with repeats and padding)`, async () => {
        const B = 2;
        const V = 300;
        const x = asDtype(randn(B * V, 77, -2, 2), dtype);
        // Make the penalised ids the top ones so the penalty decides the outcome.
        const prev = new Uint32Array([5, 9, 5, 0xffffffff, 299, 9, 10, 10, 3, 0xffffffff]);
        x[5] = 2.5; // best before the penalty, 1.67 after it: id 6 wins
        x[6] = 2.2;
        x[9] = -0.01;
        x[V + 10] = 3.9;
        x[V + 3] = -3;
        await expectSameAsCpu(x, B, { ...greedy, penalty: 1.5 }, dtype, variant, [0, 0], prev);
        await expectSameAsCpu(x, B, topk(20, 0.8, 0.95, 1.3), dtype, variant, uniforms(B, 5), prev);
        await expectSameAsCpu(x, B, full(1, 2), dtype, variant, uniforms(B, 6), prev);
        expect(sampleRowCpu(x.subarray(0, V), greedy, null, 0)).toBe(5);
        expect(sampleRowCpu(x.subarray(0, V), { ...greedy, penalty: 1.5 }, prev.subarray(0, 5), 0)).toBe(6);
      });

      it(`${tag} masked logits (−∞) are never drawn unless nothing else is left`, async () => {
        const V = 1200;
        const x = new Float32Array(V).fill(Number.NEGATIVE_INFINITY);
        x[700] = 1;
        x[1100] = 1.5;
        const us = [0, 0.3, 0.6, 0.999];
        await expectSameAsCpu(tile(x, 4), 4, topk(50, 1), dtype, variant, us);
        await expectSameAsCpu(tile(x, 4), 4, full(1), dtype, variant, us);
        const allMasked = new Float32Array(V).fill(Number.NEGATIVE_INFINITY);
        await expectSameAsCpu(allMasked, 1, greedy, dtype, variant, [0.5]);
      });
    }

  it('V = 151936 (the vocabulary): greedy, top-k 50 and full draws match the CPU', async () => {
    const V = 151936;
    const B = 2;
    const x = randn(B * V, 151936, -8, 8);
    x[123456] = 9.5; // a clear winner late in row 0
    const us = uniforms(B, 1);
    for (const variant of variants) {
      await expectSameAsCpu(x, B, greedy, 'f32', variant, us);
      await expectSameAsCpu(x, B, topk(50, 1, 0.9), 'f32', variant, us);
      await expectSameAsCpu(x, B, full(1), 'f32', variant, us);
    }
  });
});
