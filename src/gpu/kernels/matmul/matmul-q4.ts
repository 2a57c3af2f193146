import type { GpuContext, Variant } from '../../context';
import { assertDtype, assertShape, fmt, type Tensor } from '../../tensor';
import { layoutOf, type Q4Host, type QTensor, q4Value } from '../quant/format';
import { gemmQ4 } from './gemm-q4';
import { type GemvKind, gemvQ4 } from './gemv-q4';
import { chunksOf, type Float, type Q4Problem, rmsInvQ4 } from './q4-wgsl';

/**
 * Linear layer with 4-bit weights: y = x · ŵᵀ + bias, f32 accumulation.
 * x [..., K] (f32|f16), q: Q4 weight of W [N, K] (format.ts), bias [N] (f32|f16) → y [..., N] in x's dtype,
 * or in opts.out (the decoder reads its f32 residual stream and writes f16 activations).
 * M ≤ GEMV_MAX_M rows go to the GEMV kernels (gemv-q4.ts), more to the GEMM kernels (gemm-q4.ts).
 *
 * Fusions (opts):
 * - norm {weight γ [K] (f32|f16), eps}: y = (x / rms(x) ⊙ γ) · ŵᵀ + bias, rms(x) = sqrt(mean(x²) + eps)
 *   per row, the math of rmsnorm.ts. Unlike rmsnorm.ts followed by matmulQ4, the normalized x is never
 *   rounded to the activation dtype (it stays f32 in registers), so f16 results differ from the unfused
 *   pair by about that rounding (≈ 2⁻¹¹ relative per x). GEMV: Σx² is summed inside the kernel; with
 *   split-K, and in the GEMM, a pre-pass writes 1/rms [M] f32 and x loads apply γ·1/rms.
 * - epilogue 'siluMulHalves': the weight is [2I, K] = [gate; up] (concatQ4Rows) and y [..., I] =
 *   silu(x·gateᵀ) ⊙ (x·upᵀ); no bias. In the kernel (GEMV split-K: in the reduce kernel), from the f32
 *   sums: g and u are never rounded to the activation dtype.
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
  /** RMSNorm fused in front (γ [K], f32 or f16). */
  norm?: { weight: Tensor; eps: number };
  /** 'siluMulHalves': y = silu(first half of the outputs) ⊙ second half; output N/2 columns, no bias. */
  epilogue?: 'siluMulHalves';
  /**
   * A residual stream r [..., N] (f32 or f16, whatever x's dtype) updated in place, r += x·Ŵᵀ in f32, and
   * returned (no bias, no epilogue): the decoder's `x = x + o_proj(a)` in one kernel.
   */
  residual?: Tensor;
  /** y's dtype (default x's; with a residual, the residual's). */
  out?: 'f32' | 'f16';
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
  const pr = problem(ctx, x, q, bias, opts);
  const { M, N } = pr;
  const lead = x.shape.slice(0, -1);
  const NO = pr.cfg.pair ? N / 2 : N;
  if (M === 0) return opts.residual ?? ctx.empty([...lead, NO], pr.cfg.ydt);
  const kernel = opts.kernel ?? (M <= GEMV_MAX_M ? 'gemv' : 'gemm');
  const res = opts.residual;
  if (kernel === 'gemm') {
    const y = res ?? ctx.empty([...lead, NO], pr.cfg.ydt);
    gemm(ctx, pr, y, variant);
    return y;
  }
  if (M > GEMV_MAX_M) throw new Error(`matmulQ4: gemv takes M ≤ ${GEMV_MAX_M}, got ${M}`);
  const subgroups = opts.subgroups ?? true;
  const kind = opts.gemv ?? defaultGemv(ctx, variant, subgroups);
  if (kind === 'subgroup' && !(subgroups && ctx.summary.subgroups))
    throw new Error('matmulQ4: the subgroup GEMV needs the subgroups feature');
  const splitK = opts.splitK ?? autoSplitK(ctx, N, chunksOf(pr));
  const y = res ?? ctx.empty([...lead, NO], pr.cfg.ydt);
  gemvQ4(ctx, pr, y, { kind, splitK, subgroupId: opts.subgroupId, variant });
  return y;
}

/** The GEMM path: norm through the 1/rms pre-pass; the pair epilogue and the residual in the kernel. */
function gemm(ctx: GpuContext, pr: Q4Problem, y: Tensor, variant: Variant): void {
  const inv = pr.gamma ? rmsInvQ4(ctx, pr, variant) : null;
  gemmQ4(ctx, { ...pr, inv, cfg: { ...pr.cfg, norm: inv ? 'inv' : 'none' } }, y, variant);
  if (inv) ctx.release(inv);
}

function problem(
  ctx: GpuContext,
  x: Tensor,
  q: QTensor,
  bias: Tensor | null,
  opts: MatmulQ4Options,
): Q4Problem {
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
  const gamma = opts.norm?.weight ?? null;
  if (gamma) {
    assertShape('matmulQ4.norm.weight', gamma, [K]);
    assertDtype('matmulQ4.norm.weight', gamma, 'f32', 'f16');
    if (!(opts.norm!.eps >= 0)) throw new Error(`matmulQ4: bad norm eps ${opts.norm!.eps}`);
  }
  const pair = opts.epilogue === 'siluMulHalves';
  if (opts.epilogue !== undefined && !pair) throw new Error(`matmulQ4: unknown epilogue ${opts.epilogue}`);
  if (pair && bias) throw new Error('matmulQ4: the siluMulHalves epilogue takes no bias');
  if (pair && N % 2) throw new Error(`matmulQ4: siluMulHalves needs an even N, got ${N}`);
  const res = opts.residual;
  if (res) {
    if (bias || pair) throw new Error('matmulQ4: a residual takes no bias and no epilogue');
    assertShape('matmulQ4.residual', res, [...x.shape.slice(0, -1), N]);
    assertDtype('matmulQ4.residual', res, 'f32', 'f16');
    if (opts.out && opts.out !== res.dtype)
      throw new Error(`matmulQ4: out ${opts.out} ≠ the residual's dtype ${res.dtype}`);
  }
  const ydt = (res?.dtype ?? opts.out ?? x.dtype) as Float;
  if (
    (x.dtype === 'f16' || ydt === 'f16' || bias?.dtype === 'f16' || gamma?.dtype === 'f16') &&
    !ctx.summary.f16
  )
    throw new Error('matmulQ4: f16 activations need the shader-f16 feature, which this adapter lacks');
  return {
    x,
    q,
    bias,
    gamma,
    eps: opts.norm?.eps ?? 0,
    inv: null,
    M: x.size / K,
    N,
    K,
    L,
    cfg: {
      act: x.dtype as Float,
      ydt,
      scheme: L.scheme,
      scale: L.scaleDtype,
      bias: bias ? (bias.dtype as Float) : null,
      xvec: K % 4 === 0,
      tail: K % 32 !== 0,
      out: 'y',
      norm: gamma ? 'ss' : 'none',
      gamma: gamma ? (gamma.dtype as Float) : null,
      pair,
      residual: !!res,
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
  return Float32Array.from(matmulQ4Cpu64(x, q, bias, M, N, K));
}

/**
 * CPU reference of the fused matmulQ4, all in f64: x̂ = x / sqrt(mean(x²) + eps) ⊙ γ (not rounded), then
 * matmulQ4Cpu's loops, then silu(y[:, :N/2]) ⊙ y[:, N/2:] for the epilogue, or r + y for a residual r
 * [M, N]. x [M, K] → [M, N or N/2].
 */
export function matmulQ4FusedCpu(
  x: Float32Array,
  q: Q4Host,
  bias: Float32Array | null,
  M: number,
  N: number,
  K: number,
  opts: {
    norm?: { weight: Float32Array; eps: number };
    epilogue?: 'siluMulHalves';
    residual?: Float32Array;
  } = {},
): Float32Array {
  let xn: ArrayLike<number> = x;
  if (opts.norm) {
    const { weight, eps } = opts.norm;
    const v = new Float64Array(M * K);
    for (let m = 0; m < M; m++) {
      let ss = 0;
      for (let k = 0; k < K; k++) ss += x[m * K + k] ** 2;
      const inv = 1 / Math.sqrt(ss / K + eps);
      for (let k = 0; k < K; k++) v[m * K + k] = x[m * K + k] * inv * weight[k];
    }
    xn = v;
  }
  const y = matmulQ4Cpu64(xn, q, bias, M, N, K);
  const r = opts.residual;
  if (r) return Float32Array.from(y, (v, i) => r[i] + v);
  if (!opts.epilogue) return Float32Array.from(y);
  const I = N / 2;
  const out = new Float32Array(M * I);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < I; n++) {
      const g = y[m * N + n];
      out[m * I + n] = (g / (1 + Math.exp(-g))) * y[m * N + I + n];
    }
  return out;
}

function matmulQ4Cpu64(
  x: ArrayLike<number>,
  q: Q4Host,
  bias: Float32Array | null,
  M: number,
  N: number,
  K: number,
): Float64Array {
  if (q.N !== N || q.K !== K) throw new Error(`matmulQ4Cpu: weight [${q.N}, ${q.K}] ≠ [${N}, ${K}]`);
  const L = layoutOf(q);
  const y = new Float64Array(M * N);
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
