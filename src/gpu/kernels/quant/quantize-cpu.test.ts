import { describe, expect, it } from 'vitest';
import { rng } from '../../random';
import { q4Code, q4Layout } from './format';
import { dequantizeQ4Cpu, q4Error, quantizeQ4Cpu } from './quantize-cpu';

/** Normal-ish weights like a trained Linear: N(0, 0.02²), or Laplace (heavier tails) with the same sd. */
function gaussian(n: number, seed: number, sd = 0.02): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sd * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}
function laplace(n: number, seed: number, sd = 0.02): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  const b = sd / Math.SQRT2;
  for (let i = 0; i < n; i++) {
    const u = r() - 0.5;
    out[i] = -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  return out;
}

describe('quantizeQ4Cpu', () => {
  it('rounds to the nearest level, ties up, and packs nibbles low-first', () => {
    // max 7 ⇒ scale f16(7 · f32(1/7)) = 1; codes are q + 8.
    const w = new Float32Array([7, 0.5, 1.5, -0.5, -2.5, 6.5, -6.5, 3, ...new Array(24).fill(0)]);
    const h = quantizeQ4Cpu(w, 1, 32);
    expect(h.scales[0]).toBe(1);
    const L = q4Layout(1, 32);
    const codes = Array.from({ length: 8 }, (_, k) => q4Code(h, L, 0, k) - 8);
    expect(codes).toEqual([7, 1, 2, 0, -2, 7, -6, 3]);
    expect(h.packed[0]).toBe(0xb2f68a9f);
    expect(h.packed[1]).toBe(0x88888888);
  });

  it('asym: q·scale + min spans [min, max]', () => {
    const w = new Float32Array(32).map((_, k) => -1 + k * (2.5 / 31));
    const h = quantizeQ4Cpu(w, 1, 32, { scheme: 'asym' });
    const r = dequantizeQ4Cpu(h);
    expect(r[0]).toBe(-1);
    expect(Math.abs(r[31] - 1.5)).toBeLessThan(1e-3);
  });

  it('pads a short last group: padding is out of the statistics and decodes to nothing', () => {
    const K = 40; // G = 32: one whole group and one of 8
    const w = gaussian(3 * K, 5);
    const h = quantizeQ4Cpu(w, 3, K);
    const L = q4Layout(3, K);
    expect(L.Kp).toBe(64);
    expect(h.packed.length).toBe(3 * 8);
    for (let n = 0; n < 3; n++) {
      let amax = 0;
      for (let k = 32; k < K; k++) amax = Math.max(amax, Math.abs(w[n * K + k]));
      expect(Math.abs(h.scales[n * 2 + 1] - amax / 7)).toBeLessThan((amax / 7) * 1e-3);
      for (let k = K; k < 64; k++) expect(q4Code(h, L, n, k)).toBe(8);
    }
  });

  for (const scheme of ['sym', 'asym'] as const)
    for (const scaleDtype of ['f16', 'f32'] as const)
      for (const groupSize of [32, 64, 128])
        it(`${scheme} ${scaleDtype} G=${groupSize}: |w − ŵ| ≤ scale/2 (+ min rounding)`, () => {
          const N = 8;
          const K = 1000;
          const w = laplace(N * K, groupSize + N);
          const h = quantizeQ4Cpu(w, N, K, { scheme, scaleDtype, groupSize });
          const r = dequantizeQ4Cpu(h);
          const L = q4Layout(N, K, h);
          for (let n = 0; n < N; n++)
            for (let k = 0; k < K; k++) {
              const g = n * L.groups + Math.floor(k / groupSize);
              const s = h.scales[g];
              let bound = s / 2;
              if (scheme === 'asym') {
                // The stored min differs from the true min by its rounding.
                let lo = Number.POSITIVE_INFINITY;
                const k0 = Math.floor(k / groupSize) * groupSize;
                for (let j = k0; j < Math.min(k0 + groupSize, K); j++) lo = Math.min(lo, w[n * K + j]);
                bound += Math.abs(lo - (h.mins as Float32Array)[g]);
              }
              const err = Math.abs(w[n * K + k] - r[n * K + k]);
              if (!(err <= bound * (1 + 1e-6) + 1e-9)) expect.fail(`[${n}, ${k}]: |err| ${err} > ${bound}`);
            }
        });

  it('reports reconstruction RMSE: sym vs asym (normal-ish weights, sd 0.02)', () => {
    const N = 256;
    const K = 2048;
    const dists = { normal: gaussian(N * K, 1), laplace: laplace(N * K, 2) };
    const rows: string[] = [];
    const rel: Record<string, number> = {};
    for (const [name, w] of Object.entries(dists))
      for (const groupSize of [32, 64, 128])
        for (const scheme of ['sym', 'asym'] as const) {
          const e = q4Error(w, N, K, { scheme, groupSize });
          rel[`${name} ${scheme} ${groupSize}`] = e.relRmse;
          rows.push(
            `${name.padEnd(8)} G=${String(groupSize).padEnd(4)} ${scheme.padEnd(5)} rmse ${e.rmse.toExponential(3)}` +
              `  rel ${(100 * e.relRmse).toFixed(2)}%  max ${e.maxAbs.toExponential(2)}  ${e.bitsPerWeight.toFixed(3)} bit/w`,
          );
        }
    console.log(`Q4 reconstruction error, [${N}, ${K}], f16 scales\n${rows.join('\n')}`);
    // Sanity: 4-bit with group 32 keeps Gaussian weights within ~10 % relative RMSE; asym beats sym at
    // equal group size (16 levels over [min, max] vs 15 over [−max|w|, max|w|]).
    expect(rel['normal sym 32']).toBeLessThan(0.12);
    for (const g of [32, 64, 128]) expect(rel[`normal asym ${g}`]).toBeLessThan(rel[`normal sym ${g}`]);
  });
});
