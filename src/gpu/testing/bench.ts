/**
 * Wall-clock timing of GPU work for Node benchmarks (software adapters have no useful timestamp queries).
 * `run` records one iteration and returns the tensors it created, which are released after each
 * iteration so the pool hands the same buffers back and nothing grows.
 */
import type { GpuContext } from '../context';
import type { Tensor } from '../tensor';

export interface BenchResult {
  /** Median milliseconds per iteration, submission to completion. */
  ms: number;
  /** Every sample, in milliseconds. */
  samples: number[];
}

export async function timeGpu(
  ctx: GpuContext,
  run: () => Tensor | Tensor[] | undefined,
  opts: { warmup?: number; iters?: number; minMs?: number } = {},
): Promise<BenchResult> {
  const { warmup = 1, iters = 5, minMs = 0 } = opts;
  const once = async () => {
    const out = run();
    await ctx.sync();
    if (out) ctx.release(...(Array.isArray(out) ? out : [out]));
  };
  for (let i = 0; i < warmup; i++) await once();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < iters || performance.now() - start < minMs) {
    const t0 = performance.now();
    await once();
    samples.push(performance.now() - t0);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { ms: sorted[sorted.length >> 1], samples };
}

/** Throughput helpers for reports: GFLOP/s and GB/s from a count and milliseconds. */
export const gflops = (flops: number, ms: number) => flops / ms / 1e6;
export const gbps = (bytes: number, ms: number) => bytes / ms / 1e6;
