import { describe, expect, it } from 'vitest';
import { randn } from '../../random';
import { ctx } from '../../testing/kernel-suite';
import { concatQ4Rows } from './concat';
import { type Q4Host, type Q4Options, readQ4, releaseQ4, uploadQ4 } from './format';
import { quantizeQ4Cpu } from './quantize-cpu';

/**
 * concatQ4Rows against the host concatenation of the parts' arrays, bit for bit: f16 scales on odd
 * offsets (N·groups odd: the copy kernel) and on even ones (copyRegion), f32 scales, asym mins, and
 * mismatched parts rejected.
 */
function cat(parts: Q4Host[], pick: (h: Q4Host) => ArrayLike<number>): number[] {
  return parts.flatMap((h) => Array.from(pick(h)));
}

async function check(Ns: number[], K: number, opts: Q4Options): Promise<void> {
  const hosts = Ns.map((N, i) => quantizeQ4Cpu(randn(N * K, 100 + i * 7 + K), N, K, opts));
  const parts = hosts.map((h) => uploadQ4(ctx, h));
  const q = concatQ4Rows(ctx, parts);
  const N = Ns.reduce((a, b) => a + b, 0);
  expect([q.N, q.K, q.groupSize, q.scheme]).toEqual([N, K, hosts[0].groupSize, hosts[0].scheme]);
  const got = await readQ4(ctx, q);
  expect(Array.from(got.packed)).toEqual(cat(hosts, (h) => h.packed));
  expect(Array.from(got.scales)).toEqual(cat(hosts, (h) => h.scales));
  if (opts.scheme === 'asym') expect(Array.from(got.mins ?? [])).toEqual(cat(hosts, (h) => h.mins ?? []));
  else expect(q.mins).toBeUndefined();
  for (const p of parts) releaseQ4(ctx, p);
  releaseQ4(ctx, q);
}

describe('concatQ4Rows', () => {
  it('odd f16 blocks (sym, G=32, K=32: one group per row)', () => check([13, 7, 4], 32, {}));
  it('odd f16 blocks, asym, K=72', () => check([3, 5], 72, { scheme: 'asym' }));
  it('even f16 blocks, asym, G=64', () => check([8, 6], 200, { scheme: 'asym', groupSize: 64 }));
  it('f32 scales', () => check([5, 9, 1], 64, { scaleDtype: 'f32', scheme: 'asym' }));

  it('rejects parts that differ', () => {
    const a = uploadQ4(ctx, quantizeQ4Cpu(randn(64, 1), 2, 32));
    const b = uploadQ4(ctx, quantizeQ4Cpu(randn(128, 2), 2, 64));
    expect(() => concatQ4Rows(ctx, [a, b])).toThrow(/concatQ4Rows: part 1/);
    expect(() => concatQ4Rows(ctx, [])).toThrow(/no parts/);
    releaseQ4(ctx, a);
    releaseQ4(ctx, b);
  });
});
