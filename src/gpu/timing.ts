/**
 * Times one kernel call. With timestamp-query: the GPU time of its compute passes (the profiler ends
 * a pass after every dispatch, so passes = dispatches). Without: wall-clock over batches of calls,
 * each batch ended by queue.onSubmittedWorkDone, divided by the batch size.
 */
import type { GpuContext } from './context';
import { Profiler } from './profiler';
import type { Tensor } from './tensor';

export type TimingMethod = 'timestamp-query' | 'wall-clock';

export interface Timing {
  /** Median milliseconds per call. */
  ms: number;
  samples: number;
}

export interface TimeOptions {
  /** Stop sampling after this long (ms), once `minSamples` are in. */
  budgetMs: number;
  minSamples: number;
  maxSamples: number;
  /** Force a method (default: timestamp queries where the adapter has them). */
  method?: TimingMethod;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function timingMethod(ctx: GpuContext): TimingMethod {
  return ctx.summary.timestampQuery ? 'timestamp-query' : 'wall-clock';
}

/** `call` records one kernel call and returns its output, which is released after each call. */
export async function timeKernel(ctx: GpuContext, call: () => Tensor, opts: TimeOptions): Promise<Timing> {
  // Warm-up: compiles the pipeline and faults in buffers.
  const w0 = performance.now();
  ctx.release(call());
  await ctx.sync();
  // A call slower than the whole budget is timed once more, not `minSamples` times.
  const minSamples = performance.now() - w0 > opts.budgetMs ? 1 : opts.minSamples;
  const samples: number[] = [];
  const start = performance.now();
  const more = () =>
    samples.length < minSamples ||
    (samples.length < opts.maxSamples && performance.now() - start < opts.budgetMs);

  if ((opts.method ?? timingMethod(ctx)) === 'timestamp-query') {
    const profiler = new Profiler(ctx.device);
    ctx.profiler = profiler;
    try {
      while (more()) {
        profiler.reset();
        const y = call();
        await ctx.collectProfile();
        ctx.release(y);
        let ms = 0;
        for (const v of profiler.report().values()) ms += v.ms;
        samples.push(ms);
      }
      await ctx.sync();
    } finally {
      ctx.profiler = null;
      profiler.destroy();
    }
  } else {
    // Batches of `k` calls, sized from the warm-up-free first sample so each batch takes ≥ ~20 ms.
    let k = 1;
    while (more()) {
      const t0 = performance.now();
      for (let i = 0; i < k; i++) ctx.release(call());
      await ctx.sync();
      const per = (performance.now() - t0) / k;
      samples.push(per);
      k = Math.max(1, Math.min(64, Math.floor(20 / Math.max(per, 1e-3))));
    }
  }
  return { ms: median(samples), samples: samples.length };
}
