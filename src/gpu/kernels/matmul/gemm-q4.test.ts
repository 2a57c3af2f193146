import { afterEach, describe, it } from 'vitest';
import { dtypes, variants } from '../../testing/kernel-suite';
import { type GemmFlatTile, setGemmFlatTile } from './gemm-q4';
import { caseName, checkQ4, type Q4Case } from './testing/q4';

/**
 * GEMM (prefill, batched decode: M > 4) on both variants: odd M and N (edges of the flat kernel's default
 * 8 × 16 and 16 × 16 thread tiles and of the 64 × 64 tiles), K a multiple of the group, padded, and not a multiple of 4, both schemes, f16/f32
 * scales, group sizes 32/64/128, bias of either dtype, leading dims, and the GEMM forced on M = 1 (which
 * reuses the first case's pipeline: each distinct configuration costs seconds of compiling on lavapipe).
 */
const cases: Q4Case[] = [];
for (const variant of variants) {
  cases.push(
    { M: 7, N: 33, K: 64, act: 'f32', variant },
    { M: 33, N: 100, K: 96, act: 'f32', q4: { scheme: 'asym', groupSize: 64 }, bias: 'f32', variant },
    { M: 100, N: 7, K: 1000, act: 'f32', q4: { scaleDtype: 'f32', groupSize: 128 }, variant },
    { M: 8, N: 1, K: 37, act: 'f32', q4: { scheme: 'asym' }, bias: 'f32', variant },
    { M: 1, N: 65, K: 128, act: 'f32', variant, opts: { kernel: 'gemm' } },
  );
  if (dtypes.includes('f16'))
    cases.push({
      M: 33,
      N: 7,
      K: 1000,
      act: 'f16',
      q4: { scheme: 'asym' },
      bias: 'f16',
      variant,
      xShape: [3, 11, 1000],
    });
}

describe('matmulQ4 GEMM', () => {
  for (const c of cases) it(caseName(c), () => checkQ4(c));
});

/**
 * Other flat tiles (setGemmFlatTile): the 'raw' form, odd tile sizes and a small workgroup, on shapes
 * with edges in M, N and K (K padded and not a multiple of 4).
 */
const tiles: [GemmFlatTile, Q4Case][] = [
  [
    { tm: 4, tn: 8, wg: 64, form: 'raw' },
    { M: 37, N: 21, K: 96, act: 'f32', variant: 'flat' },
  ],
  [
    { tm: 3, tn: 12, wg: 32, form: 'deq' },
    { M: 11, N: 29, K: 70, act: 'f32', q4: { scheme: 'asym' }, bias: 'f32', variant: 'flat' },
  ],
];

describe('matmulQ4 GEMM, other flat tiles', () => {
  afterEach(() => setGemmFlatTile(null));
  for (const [t, c] of tiles)
    it(`${t.tm}×${t.tn} ${t.form} wg ${t.wg}: ${caseName(c)}`, () => {
      setGemmFlatTile(t);
      return checkQ4(c);
    });
});
