/**
 * The self-test's cases: one per kernel family × variant × activation dtype, at sizes that are not
 * multiples of any workgroup or vector width. Inputs are seeded, so a failure reproduces exactly.
 * Tolerances follow the kernels' own tests (see each <op>.test.ts for the reasoning).
 */

import type { Tolerance } from './compare';
import type { GpuContext, Variant } from './context';
import { roundToF16 } from './f16';
import { gelu, geluCpu, siluMul, siluMulCpu } from './kernels/activations';
import { add, addCpu } from './kernels/add';
import { attention, attentionCpu } from './kernels/attention/attention';
import { copy } from './kernels/copy';
import { embedding, embeddingCpu } from './kernels/embedding';
import { layernorm, layernormCpu } from './kernels/layernorm';
import { type MatmulKernel, matmulCpu, matmulWith } from './kernels/matmul/matmul';
import { patchify, patchifyCpu } from './kernels/patchify';
import { packRgba, resizeBicubic, resizeBicubicCpu } from './kernels/resize';
import { rmsnorm, rmsnormCpu } from './kernels/rmsnorm';
import { rope, ropeCpu } from './kernels/rope';
import { softmax, softmaxCpu } from './kernels/softmax';
import { randn, rng } from './random';
import type { DType, Tensor } from './tensor';

type Float = 'f32' | 'f16';

export interface KernelCase {
  name: string;
  shape: string;
  dtype: DType;
  variant: Variant | '—';
  tol: Tolerance;
  /** Runs the kernel and its reference; `own` registers GPU tensors to release afterwards. */
  run(ctx: GpuContext, own: (t: Tensor) => Tensor): Promise<{ actual: Float32Array; expected: Float32Array }>;
}

const FLOATS: Float[] = ['f32', 'f16'];
const VARIANTS: Variant[] = ['flat', 'tiled'];
const ONE: ['—'] = ['—'];
const EXACT: Tolerance = { atol: 0, rtol: 0 };
/** f32: accumulation-order differences; f16: outputs rounded to f16 (2⁻¹¹ relative). */
const TOL: Record<Float, Tolerance> = { f32: { atol: 1e-5, rtol: 1e-4 }, f16: { atol: 2e-3, rtol: 4e-3 } };
/** Dot products of length K: the absolute error grows like √K (see matmul.test.ts). */
const dotTol = (K: number, d: Float): Tolerance => ({
  atol: 1e-5 * Math.sqrt(K),
  rtol: d === 'f16' ? 1e-3 : 1e-4,
});

/** What the GPU sees of host data in this dtype (f16 rounds). */
const as = (x: Float32Array, d: Float) => (d === 'f16' ? roundToF16(x) : x);

function ints(n: number, below: number, seed: number): Uint32Array {
  const r = rng(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(r() * below));
}

/** One case per (variant, dtype). */
function family<V extends Variant | '—'>(
  variants: readonly V[],
  make: (variant: V, dtype: Float) => Omit<KernelCase, 'variant' | 'dtype'>,
): KernelCase[] {
  return variants.flatMap((variant) => FLOATS.map((dtype) => ({ ...make(variant, dtype), variant, dtype })));
}

const rmsnormCases = family(VARIANTS, (variant, d) => {
  const [R, C] = [7, 333];
  return {
    name: 'rmsnorm',
    shape: `R=${R} C=${C}`,
    tol: TOL[d],
    async run(ctx, own) {
      const x = as(randn(R * C, 1, -3, 3), d);
      const w = as(randn(C, 2, 0.5, 1.5), d);
      const y = own(rmsnorm(ctx, own(ctx.upload(x, [R, C], d)), own(ctx.upload(w, [C], d)), 1e-6, variant));
      return { actual: await ctx.read(y), expected: rmsnormCpu(x, w, C, 1e-6) };
    },
  };
});

const layernormCases = family(VARIANTS, (variant, d) => {
  const [R, C] = [6, 129];
  return {
    name: 'layernorm',
    shape: `R=${R} C=${C}`,
    tol: TOL[d],
    async run(ctx, own) {
      const x = as(randn(R * C, 3, -3, 3), d);
      const w = as(randn(C, 4, 0.5, 1.5), d);
      const b = as(randn(C, 5, -0.5, 0.5), d);
      const up = (a: Float32Array, shape: number[]) => own(ctx.upload(a, shape, d));
      const y = own(layernorm(ctx, up(x, [R, C]), up(w, [C]), up(b, [C]), 1e-5, variant));
      return { actual: await ctx.read(y), expected: layernormCpu(x, w, b, C, 1e-5) };
    },
  };
});

function matmulCases(kernel: MatmulKernel, M: number, N: number, K: number): KernelCase[] {
  return family(VARIANTS, (variant, d) => ({
    name: `matmul ${kernel}`,
    shape: `M=${M} N=${N} K=${K} +bias`,
    tol: dotTol(K, d),
    async run(ctx, own) {
      const x = as(randn(M * K, 6 + M, -1, 1), d);
      const w = as(randn(N * K, 7 + N, -1, 1), d);
      const b = as(randn(N, 8, -1, 1), d);
      const up = (a: Float32Array, shape: number[]) => own(ctx.upload(a, shape, d));
      const y = own(matmulWith(ctx, up(x, [M, K]), up(w, [N, K]), up(b, [N]), variant, kernel));
      return { actual: await ctx.read(y), expected: matmulCpu(x, w, b, M, N, K) };
    },
  }));
}

const softmaxCases = family(VARIANTS, (variant, d) => {
  const [R, C] = [5, 131];
  return {
    name: 'softmax',
    shape: `R=${R} C=${C}`,
    tol: TOL[d],
    async run(ctx, own) {
      const x = as(randn(R * C, 9, -8, 8), d);
      const y = own(softmax(ctx, own(ctx.upload(x, [R, C], d)), variant));
      return { actual: await ctx.read(y), expected: softmaxCpu(x, C) };
    },
  };
});

const embeddingCases = family(VARIANTS, (variant, d) => {
  const [T, V, C] = [9, 50, 37];
  return {
    name: 'embedding',
    shape: `T=${T} V=${V} C=${C}`,
    tol: EXACT,
    async run(ctx, own) {
      const ids = ints(T, V, 10);
      const table = as(randn(V * C, 11, -1, 1), d);
      const y = own(
        embedding(ctx, own(ctx.upload(ids, [T], 'u32')), own(ctx.upload(table, [V, C], d)), variant),
      );
      return { actual: await ctx.read(y), expected: embeddingCpu(ids, table, C) };
    },
  };
});

/** Causal GQA attention continuing a cache (qOffset), as in prefill after a prompt. */
const attentionCases = family(VARIANTS, (variant, d) => {
  const [T, S, Hq, Hkv, D, qOffset] = [5, 11, 4, 2, 24, 6];
  const scale = 1 / Math.sqrt(D);
  return {
    name: 'attention',
    shape: `T=${T} S=${S} Hq=${Hq} Hkv=${Hkv} D=${D} causal`,
    tol: dotTol(D, d),
    async run(ctx, own) {
      const q = as(randn(T * Hq * D, 22, -1, 1), d);
      const k = as(randn(S * Hkv * D, 23, -1, 1), d);
      const v = as(randn(S * Hkv * D, 24, -1, 1), d);
      const up = (a: Float32Array, shape: number[]) => own(ctx.upload(a, shape, d));
      const y = own(
        attention(
          ctx,
          up(q, [T, Hq, D]),
          up(k, [S, Hkv, D]),
          up(v, [S, Hkv, D]),
          { causal: true, scale, qOffset },
          variant,
        ),
      );
      const expected = attentionCpu(q, k, v, { T, S, Hq, Hkv, D, causal: true, scale, qOffset });
      return { actual: await ctx.read(y), expected };
    },
  };
});

const ropeCases = family(ONE, (_, d) => {
  const [T, H, D] = [5, 3, 16];
  return {
    name: 'rope',
    shape: `T=${T} H=${H} D=${D}`,
    tol: TOL[d],
    async run(ctx, own) {
      const x = as(randn(T * H * D, 12, -3, 3), d);
      const pos = ints(T, 3072, 13);
      const y = own(rope(ctx, own(ctx.upload(x, [T, H, D], d)), own(ctx.upload(pos, [T], 'u32')), 1e6));
      return { actual: await ctx.read(y), expected: ropeCpu(x, pos, T, H, D, 1e6) };
    },
  };
});

const addCases = family(ONE, (_, d) => {
  const n = 1001;
  return {
    name: 'add',
    shape: `n=${n}`,
    tol: TOL[d],
    async run(ctx, own) {
      const a = as(randn(n, 14, -2, 2), d);
      const b = as(randn(n, 15, -2, 2), d);
      const y = own(add(ctx, own(ctx.upload(a, [n], d)), own(ctx.upload(b, [n], d))));
      return { actual: await ctx.read(y), expected: addCpu(a, b) };
    },
  };
});

const siluMulCases = family(ONE, (_, d) => {
  const n = 777;
  return {
    name: 'silu·mul',
    shape: `n=${n}`,
    tol: TOL[d],
    async run(ctx, own) {
      const g = as(randn(n, 16, -6, 6), d);
      const u = as(randn(n, 17, -2, 2), d);
      const y = own(siluMul(ctx, own(ctx.upload(g, [n], d)), own(ctx.upload(u, [n], d))));
      return { actual: await ctx.read(y), expected: siluMulCpu(g, u) };
    },
  };
});

function geluCases(approx: 'tanh' | 'erf'): KernelCase[] {
  return family(ONE, (_, d) => {
    const n = 999;
    return {
      name: `gelu ${approx}`,
      shape: `n=${n}`,
      tol: TOL[d],
      async run(ctx, own) {
        const x = as(randn(n, approx === 'tanh' ? 18 : 19, -5, 5), d);
        const y = own(gelu(ctx, own(ctx.upload(x, [n], d)), approx));
        return { actual: await ctx.read(y), expected: geluCpu(x, approx) };
      },
    };
  });
}

const patchifyCases = family(ONE, (_, d) => {
  const [F, S, p] = [2, 21, 7];
  return {
    name: 'patchify',
    shape: `F=${F} S=${S} p=${p}`,
    tol: EXACT,
    async run(ctx, own) {
      const x = as(randn(F * 3 * S * S, 20, -1, 1), d);
      const y = own(patchify(ctx, own(ctx.upload(x, [F, 3, S, S], d)), p));
      return { actual: await ctx.read(y), expected: patchifyCpu(x, F, S, p) };
    },
  };
});

/** Frame preprocessing: an RGBA image resized (PIL bicubic) and normalised into a [F, 3, S, S] frame. */
const resizeCases = family(ONE, (_, d) => {
  const [W, H, S] = [37, 23, 16];
  return {
    name: 'resize bicubic',
    shape: `${W}×${H} → ${S}`,
    tol: TOL[d],
    async run(ctx, own) {
      const rgba = Uint8Array.from(ints(W * H * 4, 256, 25));
      const out = own(ctx.empty([1, 3, S, S], d));
      // Any per-channel statistics: the case checks the kernel, not a model's preprocessing.
      const norm = { mean: [0.25, 0.5, 0.75], std: [0.5, 0.25, 2] } as const;
      resizeBicubic(ctx, own(ctx.upload(packRgba(rgba), [H, W], 'u32')), W, H, S, out, 0, { norm });
      return { actual: await ctx.read(out), expected: as(resizeBicubicCpu(rgba, W, H, S, { norm }), d) };
    },
  };
});

/** u32 words as their 16-bit halves: exact in f32, so the comparison sees every bit. */
function halves(words: Uint32Array): Float32Array {
  const out = new Float32Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    out[2 * i] = words[i] & 0xffff;
    out[2 * i + 1] = words[i] >>> 16;
  }
  return out;
}

/** The storage-to-storage copy (the bandwidth yardstick): bit-exact, dtype-blind. */
const copyCases: KernelCase[] = [
  {
    name: 'copy',
    shape: 'n=1028',
    dtype: 'u32',
    variant: '—',
    tol: EXACT,
    async run(ctx, own) {
      const src = ints(1028, 2 ** 32, 21);
      const y = own(copy(ctx, own(ctx.upload(src, [src.length], 'u32'))));
      return { actual: halves(await ctx.readU32(y)), expected: halves(src) };
    },
  },
];

export const KERNEL_CASES: readonly KernelCase[] = [
  ...matmulCases('gemm', 19, 45, 67),
  ...matmulCases('gemv', 2, 130, 132),
  ...rmsnormCases,
  ...layernormCases,
  ...softmaxCases,
  ...embeddingCases,
  ...attentionCases,
  ...ropeCases,
  ...addCases,
  ...siluMulCases,
  ...geluCases('tanh'),
  ...geluCases('erf'),
  ...patchifyCases,
  ...resizeCases,
  ...copyCases,
];
