import type { GpuContext, Variant } from '../../context';
import { assertDtype, assertShape, fmt, type Tensor } from '../../tensor';
import { layoutOf, type Q4Host, type QTensor, q4Value } from './format';
import { gemmQ4 } from './gemm-q4';
import { type GemvKind, gemvQ4 } from './gemv-q4';
import { chunksOf, type Float, type Q4Problem } from './q4-wgsl';

/**
 * Linear layer with 4-bit weights: y = x · ŵᵀ + bias, f32 accumulation.
 * x [..., K] (f32|f16), q: Q4 weight of W [N, K] (format.ts), bias [N] (f32|f16) → y [..., N] in x's dtype.
 * M ≤ GEMV_MAX_M rows go to the GEMV kernels (gemv-q4.ts), more to the GEMM kernels (gemm-q4.ts).
 */
export const GEMV_MAX_M = 4;

export interface MatmulQ4Options {
  /** Force a kernel family ('gemv' needs M ≤ GEMV_MAX_M). */
  kernel?: 'gemv' | 'gemm';
  /** Force a GEMV kernel. */
  gemv?: GemvKind;
  /** false: never use subgroup operations, even where the device has them. */
  subgroups?: boolean;
  /** GEMV split-K slices; default chosen from N (1 on software adapters). */
  splitK?: number;
  /** Use WGSL's subgroup_id builtin (default: when the language feature is reported). */
  subgroupId?: boolean;
}

/**
 * The GEMV kernel used when none is forced: 'thread' for the flat variant (software adapters, where it
 * measured fastest, see bench.ts), else 'subgroup' where the device has subgroups, else 'workgroup'.
 */
export function defaultGemv(ctx: GpuContext, variant: Variant, subgroups = true): GemvKind {
  if (variant === 'flat') return 'thread';
  return subgroups && ctx.summary.subgroups ? 'subgroup' : 'workgroup';
}

/**
 * Split-K slices for a GEMV of N rows and CK 32-k chunks: enough slices that about 2048 row-slices keep a
 * real GPU busy, each slice at least 8 chunks (256 k). Software adapters have 2–16 cores: no split.
 */
export function autoSplitK(ctx: GpuContext, N: number, CK: number): number {
  if (ctx.summary.isSoftware) return 1;
  return Math.max(1, Math.min(Math.ceil(2048 / N), Math.floor(CK / 8), 32));
}

export function matmulQ4(
  ctx: GpuContext,
  x: Tensor,
  q: QTensor,
  bias: Tensor | null,
  variant: Variant = ctx.variant,
  opts: MatmulQ4Options = {},
): Tensor {
  const pr = problem(ctx, x, q, bias);
  const { M, N } = pr;
  const y = ctx.empty([...x.shape.slice(0, -1), N], x.dtype);
  if (M === 0) return y;
  const kernel = opts.kernel ?? (M <= GEMV_MAX_M ? 'gemv' : 'gemm');
  if (kernel === 'gemm') {
    gemmQ4(ctx, pr, y, variant);
    return y;
  }
  if (M > GEMV_MAX_M) throw new Error(`matmulQ4: gemv takes M ≤ ${GEMV_MAX_M}, got ${M}`);
  const subgroups = opts.subgroups ?? true;
  const kind = opts.gemv ?? defaultGemv(ctx, variant, subgroups);
  if (kind === 'subgroup' && !(subgroups && ctx.summary.subgroups))
    throw new Error('matmulQ4: the subgroup GEMV needs the subgroups feature');
  const splitK = opts.splitK ?? autoSplitK(ctx, N, chunksOf(pr));
  gemvQ4(ctx, pr, y, { kind, splitK, subgroupId: opts.subgroupId });
  return y;
}

function problem(ctx: GpuContext, x: Tensor, q: QTensor, bias: Tensor | null): Q4Problem {
  assertDtype('matmulQ4.x', x, 'f32', 'f16');
  const L = layoutOf(q);
  const { N, K } = L;
  if (x.shape[x.shape.length - 1] !== K) throw new Error(`matmulQ4.x: last dim of ${fmt(x.shape)} ≠ K ${K}`);
  assertDtype('matmulQ4.packed', q.packed, 'u32');
  assertShape('matmulQ4.packed', q.packed, [N, L.words]);
  assertDtype('matmulQ4.scales', q.scales, 'f32', 'f16');
  assertShape('matmulQ4.scales', q.scales, [N, L.groups]);
  if ((L.scheme === 'asym') !== (q.mins !== undefined))
    throw new Error(`matmulQ4: scheme ${L.scheme} ${q.mins ? 'has' : 'lacks'} mins`);
  if (q.mins) {
    assertDtype('matmulQ4.mins', q.mins, q.scales.dtype);
    assertShape('matmulQ4.mins', q.mins, [N, L.groups]);
  }
  if (bias) {
    assertShape('matmulQ4.bias', bias, [N]);
    assertDtype('matmulQ4.bias', bias, 'f32', 'f16');
  }
  if ((x.dtype === 'f16' || bias?.dtype === 'f16') && !ctx.summary.f16)
    throw new Error('matmulQ4: f16 activations need the shader-f16 feature, which this adapter lacks');
  return {
    x,
    q,
    bias,
    M: x.size / K,
    N,
    K,
    L,
    cfg: {
      act: x.dtype as Float,
      scheme: L.scheme,
      scale: L.scaleDtype,
      bias: bias ? (bias.dtype as Float) : null,
      xvec: K % 4 === 0,
      tail: K % 32 !== 0,
      out: 'y',
    },
  };
}

/** CPU reference: plain loops over the dequantized weights, f64 accumulation. x [M, K] → [M, N]. */
export function matmulQ4Cpu(
  x: Float32Array,
  q: Q4Host,
  bias: Float32Array | null,
  M: number,
  N: number,
  K: number,
): Float32Array {
  if (q.N !== N || q.K !== K) throw new Error(`matmulQ4Cpu: weight [${q.N}, ${q.K}] ≠ [${N}, ${K}]`);
  const L = layoutOf(q);
  const y = new Float32Array(M * N);
  for (let n = 0; n < N; n++) {
    const w = Array.from({ length: K }, (_, k) => q4Value(q, L, n, k));
    for (let m = 0; m < M; m++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[k];
      y[m * N + n] = s;
    }
  }
  return y;
}
