import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../f16';
import { rng } from '../../random';
import { ctx } from '../../testing/kernel-suite';
import { type Q4ScaleDtype, type Q4Scheme, readQ4, releaseQ4 } from './format';
import { emptyQ4, quantizeQ4, quantizeQ4Into } from './quantize';
import { quantizeQ4Cpu } from './quantize-cpu';

/**
 * Weights with the awkward cases in them: rows of different magnitude, an all-zero group, a constant
 * group, tiny values (below the f16 scale floor), and values sitting exactly on rounding midpoints.
 */
function weights(N: number, K: number, seed: number): Float32Array {
  const r = rng(seed);
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const mag = 0.002 * 4 ** (n % 5);
    for (let k = 0; k < K; k++) w[n * K + k] = mag * (r() + r() + r() - 1.5);
  }
  if (N > 1 && K >= 64) {
    w.fill(0, K, K + 32); // row 1, group 0: zeros
    w.fill(0.25, K + 32, K + 64); // row 1, group 1 (G = 32): constant
  }
  if (N > 2) for (let k = 0; k < Math.min(K, 32); k++) w[2 * K + k] = 1e-6 * (k - 16);
  // Row 0, first 8 k: max 7 ⇒ scale 1, then midpoints 0.5, 1.5, −0.5, −2.5, 6.5, −6.5 (ties go up).
  if (K >= 8) w.set([7, 0.5, 1.5, -0.5, -2.5, 6.5, -6.5, 3], 0);
  return w;
}

const SHAPES: [number, number][] = [
  [1, 32],
  [7, 96],
  [3, 1000],
  [33, 64],
  [5, 200],
];

describe('quantizeQ4 (GPU) matches quantizeQ4Cpu bit for bit', () => {
  for (const scheme of ['sym', 'asym'] as Q4Scheme[])
    for (const scaleDtype of ['f16', 'f32'] as Q4ScaleDtype[])
      for (const groupSize of [32, 64, 128])
        for (const input of ['f32', 'f16'] as const)
          for (const [N, K] of SHAPES) {
            if (input === 'f16' && groupSize !== 32) continue; // the f16 read path doesn't depend on G
            it(`${scheme} scales:${scaleDtype} G=${groupSize} w:${input} [${N}, ${K}]`, async () => {
              let w = weights(N, K, N * 7919 + K);
              if (input === 'f16') w = roundToF16(w);
              const opts = { groupSize, scheme, scaleDtype };
              const q = quantizeQ4(ctx, ctx.upload(w, [N, K], input), opts);
              expect(q.packed.shape).toEqual([N, Math.ceil(K / groupSize) * (groupSize / 8)]);
              expect(q.scales.dtype).toBe(scaleDtype);
              const got = await readQ4(ctx, q);
              const want = quantizeQ4Cpu(w, N, K, opts);
              expect(got.scales).toEqual(want.scales);
              expect(got.mins).toEqual(want.mins);
              const firstBad = got.packed.findIndex((v, i) => v !== want.packed[i]);
              expect(
                firstBad,
                `word ${firstBad}: ${got.packed[firstBad]?.toString(16)} vs ${want.packed[firstBad]?.toString(16)}`,
              ).toBe(-1);
              releaseQ4(ctx, q);
            });
          }
});

describe('quantizeQ4Into', () => {
  for (const scheme of ['sym', 'asym'] as Q4Scheme[])
    it(`${scheme}: row blocks of a [7, 96] weight give the whole weight's quantization`, async () => {
      const [N, K] = [7, 96];
      const w = weights(N, K, 99);
      const q = emptyQ4(ctx, N, K, { scheme });
      for (const [r0, r1] of [
        [0, 2],
        [2, 4],
        [4, 7],
      ])
        quantizeQ4Into(ctx, ctx.upload(w.slice(r0 * K, r1 * K), [r1 - r0, K], 'f32'), q, r0);
      const got = await readQ4(ctx, q);
      const want = quantizeQ4Cpu(w, N, K, { scheme });
      expect(got.packed).toEqual(want.packed);
      expect(got.scales).toEqual(want.scales);
      expect(got.mins).toEqual(want.mins);
      releaseQ4(ctx, q);
    });

  it('rejects a block whose f16 scales would start mid-word, and rows out of range', () => {
    const q = emptyQ4(ctx, 7, 96);
    const w = ctx.upload(new Float32Array(96), [1, 96], 'f32');
    expect(() => quantizeQ4Into(ctx, w, q, 5)).toThrow(/even/);
    expect(() => quantizeQ4Into(ctx, w, q, 7)).toThrow(/outside/);
    releaseQ4(ctx, q);
    ctx.release(w);
  });
});
