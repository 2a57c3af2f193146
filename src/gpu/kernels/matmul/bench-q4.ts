/**
 * Micro-benchmark of matmulQ4 (no CLI; `npm run bench` and tests call it). Times y = x · ŵᵀ for x [M, K]
 * and random Q4 weights [N, K], with GPU timestamps where the device has 'timestamp-query', else wall
 * clock over batches of calls each ended by onSubmittedWorkDone. Throughput counts the bytes a call must
 * move (packed weights, scales, mins, x, y) and 2·M·N·K flops.
 */
import type { GpuContext, Variant } from '../../context';
import { rng } from '../../random';
import type { Tensor } from '../../tensor';
import { type TimingMethod, timeKernel } from '../../timing';
import { siluMul } from '../activations';
import { concatQ4Rows } from '../quant/concat';
import {
  type Q4Host,
  type Q4Options,
  type QTensor,
  q4Bytes,
  q4Layout,
  releaseQ4,
  uploadQ4,
} from '../quant/format';
import { rmsnorm } from '../rmsnorm';
import { type GemmFlatTile, setGemmFlatTile } from './gemm-q4';
import { type MatmulQ4Options, matmulQ4 } from './matmul-q4';

export interface BenchQ4Options extends Q4Options, MatmulQ4Options {
  /** Activation dtype; default ctx.actDtype. */
  act?: 'f32' | 'f16';
  variant?: Variant;
  timing?: 'auto' | 'timestamp-query' | 'wall-clock';
  /** Keep sampling until this much time has passed (ms) … */
  budgetMs?: number;
  /** … and at least this many samples were taken. */
  minSamples?: number;
  /** benchFusedQ4: alternating rounds of each side (default 3; budgetMs applies per round). */
  rounds?: number;
  /** benchQ4: force the flat GEMM's thread tile (restored after). */
  flatTile?: GemmFlatTile;
}

export interface BenchQ4Result {
  /** Median milliseconds per call. */
  ms: number;
  /** GB/s of compulsory traffic (weights + x + y). */
  gbps: number;
  gflops: number;
  method: 'timestamp-query' | 'wall-clock';
  samples: number;
  bytes: number;
}

/** Random codes and plausible scales: the kernels' speed doesn't depend on the values. */
function randomQ4(N: number, K: number, opts: Q4Options, salt = 0): Q4Host {
  const L = q4Layout(N, K, opts);
  const r = rng(N * 31 + K + salt * 7919);
  const packed = new Uint32Array(N * L.words);
  for (let i = 0; i < packed.length; i++) packed[i] = (r() * 2 ** 32) >>> 0;
  const scales = new Float32Array(N * L.groups).map(() => 0.001 + 0.01 * r());
  const mins = L.scheme === 'asym' ? new Float32Array(N * L.groups).map(() => -0.08 * r()) : undefined;
  const { groupSize, scheme, scaleDtype } = L;
  return { packed, scales, ...(mins ? { mins } : {}), N, K, groupSize, scheme, scaleDtype };
}

export async function benchQ4(
  ctx: GpuContext,
  shape: { M: number; N: number; K: number },
  opts: BenchQ4Options = {},
): Promise<BenchQ4Result> {
  const { M, N, K } = shape;
  const act = opts.act ?? (ctx.actDtype as 'f32' | 'f16');
  const variant = opts.variant ?? ctx.variant;
  const budgetMs = opts.budgetMs ?? 2000;
  const minSamples = opts.minSamples ?? 5;
  const method =
    opts.timing === 'wall-clock' || (opts.timing !== 'timestamp-query' && !ctx.summary.timestampQuery)
      ? 'wall-clock'
      : 'timestamp-query';
  const host = randomQ4(N, K, opts);
  const q = uploadQ4(ctx, host);
  const r = rng(M + K);
  const x = ctx.upload(
    new Float32Array(M * K).map(() => r() * 2 - 1),
    [M, K],
    act,
  );
  const call = (): Tensor => matmulQ4(ctx, x, q, null, variant, opts);

  if (opts.flatTile) setGemmFlatTile(opts.flatTile);
  const t = await timeKernel(ctx, call, {
    budgetMs,
    minSamples,
    maxSamples: Number.POSITIVE_INFINITY,
    method,
  }).finally(() => {
    if (opts.flatTile) setGemmFlatTile(null);
  });
  await ctx.sync();
  releaseQ4(ctx, q);
  ctx.release(x);
  const { ms } = t;
  const actBytes = act === 'f16' ? 2 : 4;
  const bytes = q4Bytes(q4Layout(N, K, opts)) + (M * K + M * N) * actBytes;
  return {
    ms,
    gbps: bytes / ms / 1e6,
    gflops: (2 * M * N * K) / ms / 1e6,
    method,
    samples: t.samples,
    bytes,
  };
}

export interface BenchFusedResult {
  /** Median milliseconds per call, fused and as separate kernels. */
  fusedMs: number;
  separateMs: number;
  method: 'timestamp-query' | 'wall-clock';
}

/**
 * Fused vs separate kernels for the decode blocks the fusions serve (x [M, K], γ [K]):
 * - 'norm':  matmulQ4(x, W [N, K], {norm})                       vs rmsnorm → matmulQ4;
 * - 'mlp':   matmulQ4(x, [gate; up] [2N, K], {norm, siluMulHalves}) vs rmsnorm → gate → up → siluMul.
 * Both sides use the default GEMV for the adapter; intermediates are released inside each call. The
 * sides alternate for `rounds` rounds and each reports its best round's median.
 */
export async function benchFusedQ4(
  ctx: GpuContext,
  shape: { M: number; N: number; K: number },
  block: 'norm' | 'mlp',
  opts: BenchQ4Options = {},
): Promise<BenchFusedResult> {
  const { M, N, K } = shape;
  const act = opts.act ?? (ctx.actDtype as 'f32' | 'f16');
  const variant = opts.variant ?? ctx.variant;
  const method: TimingMethod =
    opts.timing === 'wall-clock' || (opts.timing !== 'timestamp-query' && !ctx.summary.timestampQuery)
      ? 'wall-clock'
      : 'timestamp-query';
  const time = {
    budgetMs: opts.budgetMs ?? 2000,
    minSamples: opts.minSamples ?? 5,
    maxSamples: Number.POSITIVE_INFINITY,
    method,
  };
  const r = rng(M + K + N);
  const x = ctx.upload(
    new Float32Array(M * K).map(() => r() * 2 - 1),
    [M, K],
    act,
  );
  const gamma = ctx.upload(
    new Float32Array(K).map(() => 0.5 + r()),
    [K],
    act,
  );
  const norm = { weight: gamma, eps: 1e-6 };
  const parts = (block === 'mlp' ? [0, 1] : [0]).map((i) => uploadQ4(ctx, randomQ4(N, K, opts, i)));
  // Same weights both ways: the fused weight is the parts' row concatenation.
  const fusedW = block === 'mlp' ? concatQ4Rows(ctx, parts) : parts[0];
  const mm = (a: Tensor, q: QTensor, o: MatmulQ4Options = {}) =>
    matmulQ4(ctx, a, q, null, variant, { ...opts, ...o });
  const fused = (): Tensor => mm(x, fusedW, block === 'mlp' ? { norm, epilogue: 'siluMulHalves' } : { norm });
  const separate = (): Tensor => {
    const h = rmsnorm(ctx, x, gamma, 1e-6, variant);
    if (block === 'norm') {
      const y = mm(h, parts[0]);
      ctx.release(h);
      return y;
    }
    const g = mm(h, parts[0]);
    const u = mm(h, parts[1]);
    const y = siluMul(ctx, g, u);
    ctx.release(h, g, u);
    return y;
  };
  // Alternating rounds, best median of each: software adapters share the CPU with whatever else runs.
  let fusedMs = Number.POSITIVE_INFINITY;
  let separateMs = Number.POSITIVE_INFINITY;
  const rounds = opts.rounds ?? 3;
  for (let i = 0; i < rounds; i++) {
    fusedMs = Math.min(fusedMs, (await timeKernel(ctx, fused, time)).ms);
    separateMs = Math.min(separateMs, (await timeKernel(ctx, separate, time)).ms);
  }
  await ctx.sync();
  for (const q of parts) releaseQ4(ctx, q);
  if (fusedW !== parts[0]) releaseQ4(ctx, fusedW);
  ctx.release(x, gamma);
  return { fusedMs, separateMs, method };
}
