/**
 * Benchmark cases: each kernel family at sizes taken from the model (Qwen2.5-3B decode and prefill,
 * SigLIP frames, the resampler), scaled down where a software adapter would take seconds per call.
 * Bytes are the minimum traffic (every input read once, every output written once); FLOPs are
 * counted only for matmul (2·M·N·K), the one compute-bound family; the rest are judged by GB/s.
 */
import type { GpuContext, Variant } from '../../src/gpu/context';
import { gelu, siluMul } from '../../src/gpu/kernels/activations';
import { add } from '../../src/gpu/kernels/add';
import { copy } from '../../src/gpu/kernels/copy';
import { embedding } from '../../src/gpu/kernels/embedding';
import { layernorm } from '../../src/gpu/kernels/layernorm';
import { type MatmulKernel, matmulWith } from '../../src/gpu/kernels/matmul/matmul';
import { patchify } from '../../src/gpu/kernels/patchify';
import { rmsnorm } from '../../src/gpu/kernels/rmsnorm';
import { rope } from '../../src/gpu/kernels/rope';
import { softmax } from '../../src/gpu/kernels/softmax';
import { randn, rng } from '../../src/gpu/random';
import { BYTES, type DType, type Tensor } from '../../src/gpu/tensor';

type Float = 'f32' | 'f16';

export interface BenchCase {
  kernel: string;
  variant: Variant | '—';
  dtype: DType;
  shape: string;
  bytes: number;
  /** null where FLOPs are not the measure (data movement, element-wise, normalisation). */
  flops: number | null;
  /** Uploads the inputs; `call` records one kernel call and returns its output. */
  prepare(ctx: GpuContext): { call: () => Tensor; inputs: Tensor[] };
}

const VARIANTS: Variant[] = ['flat', 'tiled'];

function ints(n: number, below: number): Uint32Array {
  const r = rng(n);
  return Uint32Array.from({ length: n }, () => Math.floor(r() * below));
}

/** Random data straight into a tensor of this dtype. */
const up = (ctx: GpuContext, shape: number[], d: Float, seed = 1) =>
  ctx.upload(
    randn(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
    d,
  );

function matmulCase(
  kernel: MatmulKernel,
  variant: Variant,
  d: Float,
  M: number,
  N: number,
  K: number,
): BenchCase {
  const b = BYTES[d];
  return {
    kernel: `matmul ${kernel}`,
    variant,
    dtype: d,
    shape: `M=${M} N=${N} K=${K}`,
    bytes: (M * K + N * K + M * N) * b,
    flops: 2 * M * N * K,
    prepare(ctx) {
      const x = up(ctx, [M, K], d, 1);
      const w = up(ctx, [N, K], d, 2);
      return { call: () => matmulWith(ctx, x, w, null, variant, kernel), inputs: [x, w] };
    },
  };
}

/** All cases this adapter can run, f16 ones only with shader-f16. */
export function benchCases(ctx: GpuContext): BenchCase[] {
  const floats: Float[] = ctx.summary.f16 ? ['f32', 'f16'] : ['f32'];
  const cases: BenchCase[] = [];

  // The yardstick first: its best GB/s is the 100% of the last column.
  for (const n of [1 << 20, 8 << 20])
    cases.push({
      kernel: 'copy',
      variant: '—',
      dtype: 'u32',
      shape: `${(n * 4) >> 20} MiB`,
      bytes: 2 * n * 4,
      flops: null,
      prepare(ctx) {
        const src = ctx.upload(ints(n, 2 ** 32), [n], 'u32');
        return { call: () => copy(ctx, src), inputs: [src] };
      },
    });

  for (const d of floats) {
    const b = BYTES[d];
    for (const v of VARIANTS) {
      // The large shapes only where the variant suits the adapter: a tiled matmul on a software
      // adapter takes seconds per call and says nothing the smaller shape does not.
      const big = v === ctx.variant || !ctx.summary.isSoftware;
      // Decode: Qwen2.5-3B q/o projection and MLP gate/up, one token.
      cases.push(matmulCase('gemv', v, d, 1, 2048, 2048));
      if (big) cases.push(matmulCase('gemv', v, d, 1, 11008, 2048));
      // A SigLIP projection over 64 of a frame's 729 tokens, and a 32-token prefill chunk.
      cases.push(matmulCase('gemm', v, d, 64, 1152, 1152));
      if (big) cases.push(matmulCase('gemm', v, d, 32, 2048, 2048));

      const [R, C] = [64, 2048];
      cases.push({
        kernel: 'rmsnorm',
        variant: v,
        dtype: d,
        shape: `R=${R} C=${C}`,
        bytes: (2 * R * C + C) * b,
        flops: null,
        prepare(ctx) {
          const x = up(ctx, [R, C], d, 3);
          const w = up(ctx, [C], d, 4);
          return { call: () => rmsnorm(ctx, x, w, 1e-6, v), inputs: [x, w] };
        },
      });

      const [LR, LC] = [729, 1152]; // one SigLIP frame
      cases.push({
        kernel: 'layernorm',
        variant: v,
        dtype: d,
        shape: `R=${LR} C=${LC}`,
        bytes: (2 * LR * LC + 2 * LC) * b,
        flops: null,
        prepare(ctx) {
          const x = up(ctx, [LR, LC], d, 5);
          const w = up(ctx, [LC], d, 6);
          const bias = up(ctx, [LC], d, 7);
          return { call: () => layernorm(ctx, x, w, bias, 1e-6, v), inputs: [x, w, bias] };
        },
      });

      const [SR, SC] = [16 * 64, 512]; // 16 heads × 64 queries over 512 keys
      cases.push({
        kernel: 'softmax',
        variant: v,
        dtype: d,
        shape: `R=${SR} C=${SC}`,
        bytes: 2 * SR * SC * b,
        flops: null,
        prepare(ctx) {
          const x = up(ctx, [SR, SC], d, 8);
          return { call: () => softmax(ctx, x, v), inputs: [x] };
        },
      });

      const [T, V, EC] = [64, 4096, 2048]; // vocabulary scaled down from 151936
      cases.push({
        kernel: 'embedding',
        variant: v,
        dtype: d,
        shape: `T=${T} V=${V} C=${EC}`,
        bytes: T * 4 + 2 * T * EC * b,
        flops: null,
        prepare(ctx) {
          const ids = ctx.upload(ints(T, V), [T], 'u32');
          const table = up(ctx, [V, EC], d, 9);
          return { call: () => embedding(ctx, ids, table, v), inputs: [ids, table] };
        },
      });
    }

    const [T, H, D] = [64, 16, 128];
    cases.push({
      kernel: 'rope',
      variant: '—',
      dtype: d,
      shape: `T=${T} H=${H} D=${D}`,
      bytes: T * 4 + 2 * T * H * D * b,
      flops: null,
      prepare(ctx) {
        const x = up(ctx, [T, H, D], d, 10);
        const pos = ctx.upload(ints(T, 3072), [T], 'u32');
        return { call: () => rope(ctx, x, pos, 1e6), inputs: [x, pos] };
      },
    });

    const elementwise: [string, number, number, (ctx: GpuContext, xs: Tensor[]) => Tensor][] = [
      ['add', 729 * 1152, 2, (ctx, [a, c]) => add(ctx, a, c)],
      ['silu·mul', 64 * 11008, 2, (ctx, [g, u]) => siluMul(ctx, g, u)],
      ['gelu tanh', 64 * 4304, 1, (ctx, [x]) => gelu(ctx, x, 'tanh')],
      ['gelu erf', 32 * 8192, 1, (ctx, [x]) => gelu(ctx, x, 'erf')],
    ];
    for (const [kernel, n, inputs, f] of elementwise)
      cases.push({
        kernel,
        variant: '—',
        dtype: d,
        shape: `n=${n}`,
        bytes: (inputs + 1) * n * b,
        flops: null,
        prepare(ctx) {
          const xs = Array.from({ length: inputs }, (_, i) => up(ctx, [n], d, 11 + i));
          return { call: () => f(ctx, xs), inputs: xs };
        },
      });

    const [F, S, p] = [1, 378, 14]; // one SigLIP frame: 27×27 patches (384 px less the 6 the conv drops)
    cases.push({
      kernel: 'patchify',
      variant: '—',
      dtype: d,
      shape: `F=${F} S=${S} p=${p}`,
      bytes: 2 * F * 3 * S * S * b,
      flops: null,
      prepare(ctx) {
        const x = up(ctx, [F, 3, S, S], d, 13);
        return { call: () => patchify(ctx, x, p), inputs: [x] };
      },
    });
  }
  return cases;
}
