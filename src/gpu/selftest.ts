/**
 * The in-page kernel self-test: every kernel family, in each variant and activation dtype the adapter
 * runs, on seeded random inputs of awkward sizes, against its plain-loop CPU reference. DOM-free: it
 * runs in the engine worker (browser) and under vitest (Node, Dawn).
 */

import { firstMismatch, maxAbsDiff, type Tolerance } from './compare';
import type { GpuContext, Variant } from './context';
import { KERNEL_CASES, type KernelCase } from './selftest-cases';
import type { DType, Tensor } from './tensor';

export interface SelfTestResult {
  /** Kernel family (and sub-kernel), e.g. 'matmul gemv'. */
  name: string;
  /** Input sizes, e.g. 'M=19 N=45 K=67'. */
  shape: string;
  dtype: DType;
  /** 'flat' | 'tiled', or '—' for kernels with a single variant. */
  variant: Variant | '—';
  ok: boolean;
  maxAbsErr: number;
  tolerance: Tolerance;
  /** Wall-clock time of the case: upload, first-use pipeline compile, dispatch, read-back, compare. */
  ms: number;
  error?: string;
}

export interface SelfTestProgress {
  done: number;
  total: number;
}

/** The cases this adapter runs: f16 ones only with shader-f16. */
export function selfTestCases(ctx: GpuContext): KernelCase[] {
  return KERNEL_CASES.filter((c) => c.dtype !== 'f16' || ctx.summary.f16);
}

/** Runs the cases one after another (all of this adapter's by default), reporting each result. */
export async function runSelfTest(
  ctx: GpuContext,
  onResult?: (r: SelfTestResult, progress: SelfTestProgress) => void,
  cases: readonly KernelCase[] = selfTestCases(ctx),
): Promise<SelfTestResult[]> {
  const results: SelfTestResult[] = [];
  for (const c of cases) {
    const r = await runSelfTestCase(ctx, c);
    results.push(r);
    onResult?.(r, { done: results.length, total: cases.length });
  }
  return results;
}

/** One case: never throws; a thrown error or a GPU error scope becomes a failed result. */
export async function runSelfTestCase(ctx: GpuContext, c: KernelCase): Promise<SelfTestResult> {
  const base = { name: c.name, shape: c.shape, dtype: c.dtype, variant: c.variant, tolerance: c.tol };
  const owned: Tensor[] = [];
  const t0 = performance.now();
  // Errors a kernel raises asynchronously (WGSL compile, validation) would otherwise only reach the
  // uncaptured-error handler while the read-back returns zeros.
  ctx.device.pushErrorScope('validation');
  ctx.device.pushErrorScope('internal');
  let outcome: { actual: Float32Array; expected: Float32Array } | null = null;
  let thrown: string | undefined;
  try {
    outcome = await c.run(ctx, (t) => {
      owned.push(t);
      return t;
    });
  } catch (e) {
    thrown = e instanceof Error ? e.message : String(e);
  }
  const internal = await ctx.device.popErrorScope();
  const validation = await ctx.device.popErrorScope();
  ctx.release(...owned);
  const ms = performance.now() - t0;

  const gpuError = validation?.message ?? internal?.message;
  const error = thrown ?? (gpuError ? `GPU error: ${gpuError}` : undefined);
  if (error || !outcome)
    return { ...base, ok: false, maxAbsErr: Number.NaN, ms, error: error ?? 'no result' };
  const miss = firstMismatch(outcome.actual, outcome.expected, c.tol);
  const maxAbsErr = maxAbsDiff(outcome.actual, outcome.expected);
  return miss ? { ...base, ok: false, maxAbsErr, ms, error: miss } : { ...base, ok: true, maxAbsErr, ms };
}
