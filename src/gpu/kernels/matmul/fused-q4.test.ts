import { describe, expect, it } from 'vitest';
import type { Variant } from '../../context';
import { randn } from '../../random';
import { asDtype, ctx, dtypes, expectClose } from '../../testing/kernel-suite';
import { releaseQ4, uploadQ4 } from '../quant/format';
import { quantizeQ4Cpu } from '../quant/quantize-cpu';
import type { GemvKind } from './gemv-q4';
import { type MatmulQ4Options, matmulQ4, matmulQ4FusedCpu } from './matmul-q4';
import { q4Tol } from './testing/q4';

/**
 * matmulQ4's fusions (RMSNorm in front, siluMulHalves epilogue, both) against the f64 reference
 * matmulQ4FusedCpu: every GEMV kernel the adapter has, split-K off and 3 slices (the pre-pass / reduce-kernel
 * paths), M = 1 and 3, the GEMM path at M = 6 and 9 (both variants; I = 37 spans several column
 * tiles), K = 72 and 200 (padded groups), I = 13 and N = 20 (not multiples of the 8-row blocks), K = 37
 * (scalar loads), sym and asym, every activation dtype, γ in f32 and f16, eps small and large (so it
 * visibly matters). Where the adapter has f16: x f32 with y f16 (the decoder's f32 residual stream into
 * f16 activations) on every kernel path, x of magnitude ~1e5 (past f16's range) among them.
 *
 * Tolerance: q4Tol's f32-accumulation bound, scaled by the size of the outputs before the epilogue (the
 * normalized x is ≈ 1.7× larger than x, and silu(g)·u multiplies two sums of size ~√K), and for f16 the
 * output rounding. Every path applies the epilogue to the f32 sums, so one bound serves all.
 */
type Mode = 'norm' | 'epi' | 'both';
interface Case {
  M: number;
  K: number;
  /** Output columns (I with the epilogue). */
  NO: number;
  act: 'f32' | 'f16';
  gamma: 'f32' | 'f16';
  scheme: 'sym' | 'asym';
  mode: Mode;
  variant: Variant;
  bias?: boolean;
  eps: number;
  opts: MatmulQ4Options;
  /** y's dtype when not x's. */
  out?: 'f32' | 'f16';
  /** x's magnitude (default 1). */
  xScale?: number;
}

const kinds: GemvKind[] = ctx.summary.subgroups
  ? ['thread', 'subgroup', 'workgroup']
  : ['thread', 'workgroup'];
const variantOf = (kind: GemvKind): Variant => (kind === 'workgroup' ? 'tiled' : 'flat');
const modes: Mode[] = ['norm', 'epi', 'both'];

const cases: Case[] = [];
for (const [k, kind] of kinds.entries())
  for (const [j, mode] of modes.entries()) {
    for (const [s, splitK] of [1, 3].entries())
      cases.push({
        M: (j + s) % 2 ? 3 : 1,
        K: (k + j) % 2 ? 200 : 72,
        NO: mode === 'norm' ? 20 : 13,
        act: dtypes[(j + s + k) % dtypes.length],
        gamma: dtypes[(j + k) % dtypes.length],
        scheme: (k + s + j) % 2 ? 'sym' : 'asym',
        mode,
        variant: variantOf(kind),
        bias: mode === 'norm' && s === 0,
        eps: (j + k) % 2 && s ? 0.25 : 1e-6,
        opts: { gemv: kind, splitK },
      });
  }
// x not a multiple of 4 (scalar x and γ loads), unsplit and split (CK = 2 → 2 slices).
for (const splitK of [1, 3])
  cases.push({
    M: 2,
    K: 37,
    NO: 5,
    act: 'f32',
    gamma: 'f32',
    scheme: 'asym',
    mode: 'both',
    variant: 'flat',
    eps: 1e-6,
    opts: { gemv: 'thread', splitK },
  });
// The GEMM over several column tiles (I = 37: 5 flat tiles of 8 outputs, 2 tiled tiles of 32).
for (const variant of ['flat', 'tiled'] as const)
  cases.push({
    M: 9,
    K: 72,
    NO: 37,
    act: dtypes[0],
    gamma: 'f32',
    scheme: 'asym',
    mode: 'both',
    variant,
    eps: 1e-6,
    opts: {},
  });
// The thread kernel's vec4 scale loads (K = 256: 8 groups), one x row and two, every fusion.
for (const [j, mode] of modes.entries())
  cases.push({
    M: j === 1 ? 2 : 1,
    K: 256,
    NO: 11,
    act: dtypes[j % dtypes.length],
    gamma: 'f32',
    scheme: j % 2 ? 'sym' : 'asym',
    mode,
    variant: 'flat',
    eps: 1e-6,
    opts: { gemv: 'thread' },
  });
for (const variant of ['flat', 'tiled'] as const)
  for (const mode of modes)
    for (const act of dtypes)
      cases.push({
        M: 6,
        K: mode === 'epi' ? 72 : 200,
        NO: 13,
        act,
        gamma: act,
        scheme: mode === 'both' ? 'asym' : 'sym',
        mode,
        variant,
        bias: mode === 'norm',
        eps: 1e-6,
        opts: {},
      });

// f32 x (the residual stream, up to ~1e5: past f16's range), y f16: every GEMV kind unsplit and split
// (the pre-pass and the reduce kernel), and the GEMM in both variants, for each fusion.
if (dtypes.includes('f16'))
  for (const mode of modes) {
    const at = (M: number, variant: Variant, opts: MatmulQ4Options, xScale: number): Case => ({
      M,
      K: 200,
      NO: 13,
      act: 'f32',
      gamma: 'f16',
      scheme: 'asym',
      mode,
      variant,
      bias: mode === 'norm',
      eps: 1e-6,
      opts,
      out: 'f16',
      xScale,
    });
    const xScale = mode === 'epi' ? 1 : 1e5; // normed: any scale; unnormed, y would pass f16's range
    for (const kind of kinds)
      for (const splitK of [1, 3])
        cases.push(at(splitK === 1 ? 1 : 3, variantOf(kind), { gemv: kind, splitK }, xScale));
    for (const variant of ['flat', 'tiled'] as const) cases.push(at(6, variant, {}, xScale));
  }

const name = (c: Case) =>
  `${c.mode} ${c.opts.gemv ?? `gemm-${c.variant}`}${c.opts.splitK ? ` splitK=${c.opts.splitK}` : ''} ` +
  `x:${c.act}${c.xScale ? `·${c.xScale}` : ''}${c.out ? ` y:${c.out}` : ''} γ:${c.gamma} M=${c.M} K=${c.K} ` +
  `out=${c.NO} ${c.scheme}${c.bias ? ' +bias' : ''} eps=${c.eps}`;

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

async function check(c: Case): Promise<void> {
  const { M, K, act } = c;
  const epi = c.mode !== 'norm';
  const norm = c.mode !== 'epi';
  const N = epi ? 2 * c.NO : c.NO;
  const seed = M * 7919 + K * 31 + N;
  const xs = c.xScale ?? 1;
  const x = asDtype(randn(M * K, seed, -xs, xs), act);
  const host = quantizeQ4Cpu(randn(N * K, seed + 1), N, K, { scheme: c.scheme });
  const g = asDtype(randn(K, seed + 2, -1.5, 1.5), c.gamma);
  const b = c.bias ? asDtype(randn(N, seed + 3), act) : null;
  const q = uploadQ4(ctx, host);
  const gt = ctx.upload(g, [K], c.gamma);
  const y = matmulQ4(ctx, ctx.upload(x, [M, K], act), q, b ? ctx.upload(b, [N], act) : null, c.variant, {
    ...c.opts,
    ...(norm ? { norm: { weight: gt, eps: c.eps } } : {}),
    ...(epi ? { epilogue: 'siluMulHalves' as const } : {}),
    ...(c.out ? { out: c.out } : {}),
  });
  expect(y.shape).toEqual([M, c.NO]);
  expect(y.dtype).toBe(c.out ?? act);
  const nopts = norm ? { norm: { weight: g, eps: c.eps } } : {};
  const ref = matmulQ4FusedCpu(x, host, b, M, N, K, {
    ...nopts,
    ...(epi ? { epilogue: 'siluMulHalves' } : {}),
  });
  const pre = matmulQ4FusedCpu(x, host, b, M, N, K, nopts);
  const t = q4Tol(K, c.out ?? act);
  const scale = 2 * (1 + (epi ? maxAbs(pre) : 0));
  expectClose(await ctx.read(y), ref, { atol: t.atol * scale, rtol: t.rtol });
  releaseQ4(ctx, q);
}

describe('matmulQ4 fused RMSNorm / siluMulHalves', () => {
  for (const c of cases) it(name(c), () => check(c));

  it('rejects a bias or an odd N with the epilogue', () => {
    const q = uploadQ4(ctx, quantizeQ4Cpu(randn(26 * 32, 1), 26, 32));
    const x = ctx.upload(randn(32, 2), [1, 32], 'f32');
    const bias = ctx.upload(randn(26, 3), [26], 'f32');
    expect(() => matmulQ4(ctx, x, q, bias, 'flat', { epilogue: 'siluMulHalves' })).toThrow(/no bias/);
    const q13 = uploadQ4(ctx, quantizeQ4Cpu(randn(13 * 32, 1), 13, 32));
    expect(() => matmulQ4(ctx, x, q13, null, 'flat', { epilogue: 'siluMulHalves' })).toThrow(/even N/);
    const g = ctx.upload(randn(31, 4), [31], 'f32');
    expect(() => matmulQ4(ctx, x, q, null, 'flat', { norm: { weight: g, eps: 1e-6 } })).toThrow(
      /norm\.weight/,
    );
    releaseQ4(ctx, q);
    releaseQ4(ctx, q13);
  });
});

/**
 * The residual option: r += x·Ŵᵀ in place (the decoder's o_proj and down_proj with their residual add).
 * Every GEMV kind, unsplit and split (the reduce kernel adds), and the GEMM path (its store adds), against
 * r + matmulQ4Cpu in f64; r of magnitude ~3 so a dropped or doubled residual shows.
 */
describe('matmulQ4 residual', () => {
  const rcases: { M: number; K: number; N: number; opts: MatmulQ4Options; variant: Variant }[] = [];
  for (const kind of kinds)
    for (const splitK of [1, 3])
      rcases.push({ M: 3, K: 200, N: 21, opts: { gemv: kind, splitK }, variant: variantOf(kind) });
  for (const variant of ['flat', 'tiled'] as const) rcases.push({ M: 6, K: 72, N: 13, opts: {}, variant });
  rcases.push({ M: 1, K: 256, N: 10, opts: { gemv: 'thread' }, variant: 'flat' }); // vec4 scale loads
  for (const act of dtypes)
    for (const c of rcases)
      it(`${c.opts.gemv ?? `gemm-${c.variant}`} splitK=${c.opts.splitK ?? '—'} x:${act} M=${c.M} K=${c.K} N=${c.N}`, async () => {
        const { M, K, N } = c;
        const x = asDtype(randn(M * K, M + K), act);
        const r = asDtype(randn(M * N, N, -3, 3), act);
        const host = quantizeQ4Cpu(randn(N * K, K + 1), N, K, { scheme: 'asym' });
        const q = uploadQ4(ctx, host);
        const rt = ctx.upload(r, [M, N], act);
        const y = matmulQ4(ctx, ctx.upload(x, [M, K], act), q, null, c.variant, { ...c.opts, residual: rt });
        expect(y).toBe(rt);
        const prod = matmulQ4FusedCpu(x, host, null, M, N, K);
        const ref = Float64Array.from(prod, (v, i) => v + r[i]);
        const t = q4Tol(K, act);
        expectClose(await ctx.read(y), ref, { atol: 4 * t.atol, rtol: t.rtol });
        releaseQ4(ctx, q);
      });

  // The decoder's f32 residual stream with f16 x: r up to ±1e5 (past f16's range) must come back as
  // r + x·Ŵᵀ to f32 precision (|r| · 2⁻²³ per rounding), with no f16 step between.
  if (dtypes.includes('f16'))
    for (const c of rcases)
      it(`${c.opts.gemv ?? `gemm-${c.variant}`} splitK=${c.opts.splitK ?? '—'} x:f16 r:f32·1e5 M=${c.M} K=${c.K} N=${c.N}`, async () => {
        const { M, K, N } = c;
        const x = asDtype(randn(M * K, M + K), 'f16');
        const r = randn(M * N, N, -1e5, 1e5);
        const host = quantizeQ4Cpu(randn(N * K, K + 1), N, K, { scheme: 'asym' });
        const q = uploadQ4(ctx, host);
        const rt = ctx.upload(r, [M, N], 'f32');
        const y = matmulQ4(ctx, ctx.upload(x, [M, K], 'f16'), q, null, c.variant, {
          ...c.opts,
          residual: rt,
        });
        expect(y).toBe(rt);
        const ref = matmulQ4FusedCpu(x, host, null, M, N, K, { residual: r });
        expectClose(await ctx.read(y), ref, { atol: 4 * q4Tol(K, 'f32').atol + 1e5 * 2 ** -22, rtol: 0 });
        releaseQ4(ctx, q);
      });

  it('rejects a bias, an epilogue or a mis-shaped residual', () => {
    const q = uploadQ4(ctx, quantizeQ4Cpu(randn(26 * 32, 1), 26, 32));
    const x = ctx.upload(randn(32, 2), [1, 32], 'f32');
    const r = ctx.upload(randn(26, 3), [1, 26], 'f32');
    const bias = ctx.upload(randn(26, 3), [26], 'f32');
    expect(() => matmulQ4(ctx, x, q, bias, 'flat', { residual: r })).toThrow(/residual/);
    expect(() => matmulQ4(ctx, x, q, null, 'flat', { residual: r, epilogue: 'siluMulHalves' })).toThrow(
      /residual/,
    );
    expect(() =>
      matmulQ4(ctx, x, q, null, 'flat', { residual: ctx.upload(randn(25, 3), [1, 25], 'f32') }),
    ).toThrow(/residual/);
    releaseQ4(ctx, q);
  });
});
