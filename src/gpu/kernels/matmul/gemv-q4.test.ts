import { describe, it } from 'vitest';
import { ctx, dtypes } from '../../testing/kernel-suite';
import type { GemvKind } from './gemv-q4';
import { caseName, checkQ4, type Q4Case } from './testing/q4';

/**
 * GEMV (decode, M ≤ 4) on every kernel, each feature exercised a few times rather than in a full product
 * (pipelines take seconds to compile on software adapters): both schemes, f16/f32 scales, group sizes 32,
 * 64 and 128, K a multiple of the group, padded (96 with G = 64; 1000) and not a multiple of 4 (37),
 * odd N, bias of either dtype, split-K, and the subgroup path with and without the subgroup_id builtin.
 */
const kinds: GemvKind[] = ctx.summary.subgroups
  ? ['thread', 'subgroup', 'workgroup']
  : ['thread', 'workgroup'];
const variantOf = (kind: GemvKind) => (kind === 'workgroup' ? 'tiled' : 'flat');

const shapes: [number, number, number][] = [
  [1, 7, 64],
  [3, 33, 96],
  [1, 100, 1000],
  [4, 1, 37],
];

const cases: Q4Case[] = [];
// The shared-memory 'workgroup' kernel is slow to compile and run on software adapters: fewer cases.
const few = (kind: GemvKind, i: number) => kind === 'workgroup' && i % 2 === 0;
for (const kind of kinds)
  shapes.forEach(([M, N, K], i) => {
    if (few(kind, i)) return;
    cases.push({
      M,
      N,
      K,
      act: 'f32',
      q4: {
        scheme: i % 2 ? 'asym' : 'sym',
        groupSize: K === 96 ? 64 : 32,
        scaleDtype: i === 2 ? 'f32' : 'f16',
      },
      bias: i % 2 ? 'f32' : null,
      variant: variantOf(kind),
      opts: { gemv: kind },
    });
  });
for (const kind of kinds) {
  const v = variantOf(kind);
  if (!few(kind, 0))
    cases.push({
      M: 2,
      N: 33,
      K: 1000,
      act: 'f32',
      q4: { groupSize: 128 },
      variant: v,
      opts: { gemv: kind, splitK: 3 },
    });
  cases.push({
    M: 1,
    N: 7,
    K: 256,
    act: 'f32',
    q4: { scheme: 'asym' },
    bias: 'f32',
    variant: v,
    opts: { gemv: kind, splitK: 4 },
  });
}
if (dtypes.includes('f16'))
  for (const kind of kinds) {
    const v = variantOf(kind);
    cases.push({
      M: 1,
      N: 33,
      K: 96,
      act: 'f16',
      q4: { scheme: 'asym' },
      bias: 'f16',
      variant: v,
      opts: { gemv: kind },
    });
    if (!few(kind, 0))
      cases.push({
        M: 4,
        N: 7,
        K: 1000,
        act: 'f16',
        bias: 'f32',
        variant: v,
        opts: { gemv: kind, splitK: 2 },
      });
  }
if (ctx.summary.subgroups)
  cases.push({
    M: 3,
    N: 100,
    K: 256,
    act: 'f32',
    q4: { scheme: 'asym' },
    variant: 'flat',
    opts: { gemv: 'subgroup', subgroupId: true },
  });
// The thread kernel's vec4 scale loads (groups a multiple of 8 f16 or 4 f32 scales, no split), with
// one x row (scalar accumulators) and more; padded K; groups of 64 (two chunks per group).
for (const [M, N, K, q4] of [
  [1, 9, 512, { scheme: 'asym', scaleDtype: 'f16' }],
  [1, 5, 1000, { scheme: 'sym', scaleDtype: 'f16' }],
  [2, 6, 256, { scheme: 'sym', scaleDtype: 'f32', groupSize: 64 }],
  [1, 3, 512, { scheme: 'asym', scaleDtype: 'f32', groupSize: 64 }],
] as const)
  cases.push({ M, N, K, act: 'f32', q4, variant: 'flat', opts: { gemv: 'thread' } });
// The automatic choice (flat: thread; tiled: subgroup where present), and subgroups forced off.
cases.push({ M: 2, N: 7, K: 64, act: 'f32', variant: 'flat', xShape: [2, 1, 64] });
cases.push({ M: 1, N: 9, K: 64, act: 'f32', variant: 'tiled' });
cases.push({ M: 1, N: 33, K: 64, act: 'f32', bias: 'f32', variant: 'tiled', opts: { subgroups: false } });

describe('matmulQ4 GEMV', () => {
  for (const c of cases) it(caseName(c), () => checkQ4(c));
});
