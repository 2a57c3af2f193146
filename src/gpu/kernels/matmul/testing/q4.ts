/** Test helper shared by the Q4 matmul tests: random problem, GPU run, comparison with matmulQ4Cpu. */
import { expect } from 'vitest';
import type { Tolerance } from '../../../compare';
import type { Variant } from '../../../context';
import { randn } from '../../../random';
import { asDtype, ctx, expectClose } from '../../../testing/kernel-suite';
import { type Q4Options, releaseQ4, uploadQ4 } from '../../quant/format';
import { quantizeQ4Cpu } from '../../quant/quantize-cpu';
import { type MatmulQ4Options, matmulQ4, matmulQ4Cpu } from '../matmul-q4';

export interface Q4Case {
  M: number;
  N: number;
  K: number;
  act: 'f32' | 'f16';
  q4?: Q4Options;
  bias?: 'f32' | 'f16' | null;
  variant: Variant;
  opts?: MatmulQ4Options;
  /** x's shape when not [M, K]. */
  xShape?: number[];
}

export function caseName(c: Q4Case): string {
  const q = { groupSize: 32, scheme: 'sym', scaleDtype: 'f16', ...c.q4 };
  const o = c.opts ?? {};
  const extra = [
    o.gemv,
    o.kernel,
    o.subgroups === false ? 'no-subgroups' : '',
    o.splitK ? `splitK=${o.splitK}` : '',
    o.subgroupId !== undefined ? `subgroupId=${o.subgroupId}` : '',
  ].filter(Boolean);
  return (
    `${c.variant} x:${c.act} M=${c.M} N=${c.N} K=${c.K} ${q.scheme} G=${q.groupSize} s:${q.scaleDtype}` +
    `${c.bias ? ` +bias:${c.bias}` : ''}${extra.length ? ` [${extra.join(' ')}]` : ''}`
  );
}

/**
 * The reference runs in f64 on exactly the values the GPU sees (f16 inputs rounded first; the weights are
 * the dequantized Q4 values), so differences come from f32 accumulation (≪ 2e-5·√K for |x|, |ŵ| ≤ 1, the
 * factored form s·Σxq + b·Σx included) and from rounding y to f16 (rtol 1e-3).
 */
export function q4Tol(K: number, out: 'f32' | 'f16'): Tolerance {
  return { atol: 2e-5 * Math.sqrt(K), rtol: out === 'f16' ? 1e-3 : 1e-4 };
}

export async function checkQ4(c: Q4Case): Promise<void> {
  const { M, N, K, act } = c;
  const seed = M * 1000003 + N * 1009 + K;
  const x = asDtype(randn(M * K, seed), act);
  const host = quantizeQ4Cpu(randn(N * K, seed + 1), N, K, c.q4);
  const b = c.bias ? asDtype(randn(N, seed + 2), c.bias) : null;
  const q = uploadQ4(ctx, host);
  const xShape = c.xShape ?? [M, K];
  const bt = b && c.bias ? ctx.upload(b, [N], c.bias) : null;
  const y = matmulQ4(ctx, ctx.upload(x, xShape, act), q, bt, c.variant, c.opts);
  expect(y.shape).toEqual([...xShape.slice(0, -1), N]);
  expect(y.dtype).toBe(act);
  expectClose(await ctx.read(y), matmulQ4Cpu(x, host, b, M, N, K), q4Tol(K, act));
  releaseQ4(ctx, q);
}
