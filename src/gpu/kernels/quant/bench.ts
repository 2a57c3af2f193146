/**
 * Micro-benchmark of matmulQ4 (no CLI; `npm run bench` and tests call it). Times y = x · ŵᵀ for x [M, K]
 * and random Q4 weights [N, K], with GPU timestamps where the device has 'timestamp-query', else wall
 * clock over batches of calls each ended by onSubmittedWorkDone. Throughput counts the bytes a call must
 * move (packed weights, scales, mins, x, y) and 2·M·N·K flops.
 */
import type { GpuContext, Variant } from '../../context';
import type { Tensor } from '../../tensor';
import { rng } from '../../testing/random';
import { timeKernel } from '../../timing';
import { type Q4Host, type Q4Options, q4Bytes, q4Layout, releaseQ4, uploadQ4 } from './format';
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
function randomQ4(N: number, K: number, opts: Q4Options): Q4Host {
  const L = q4Layout(N, K, opts);
  const r = rng(N * 31 + K);
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

  const t = await timeKernel(ctx, call, {
    budgetMs,
    minSamples,
    maxSamples: Number.POSITIVE_INFINITY,
    method,
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
