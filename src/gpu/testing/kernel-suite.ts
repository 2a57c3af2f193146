/**
 * Shared setup for kernel tests under vitest: one GpuContext per test file on the adapter chosen by
 * VK_ICD_FILENAMES, the dtypes that adapter runs, and tolerances per dtype.
 * With GPU_EXPECT_F16=1 (the lavapipe run) an adapter without shader-f16 fails the run.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { firstMismatch, type Tolerance } from '../compare';
import type { Variant } from '../context';
import { roundToF16 } from '../f16';
import type { DType } from '../tensor';
import { closeNodeGpu, gpuErrors, nodeGpuContext } from './node-gpu';

export const ctx = await nodeGpuContext();
afterAll(() => closeNodeGpu(ctx));
// A WGSL compile or validation error fails the test that caused it (the GPU would otherwise return zeros).
afterEach(async () => {
  await ctx.device.queue.onSubmittedWorkDone();
  const errs = gpuErrors.splice(0);
  expect(errs, errs.join('\n')).toEqual([]);
});

export const dtypes: ('f32' | 'f16')[] = ctx.summary.f16 ? ['f32', 'f16'] : ['f32'];
export const variants: Variant[] = ['flat', 'tiled'];

it('adapter runs the expected precision path', () => {
  if (process.env.GPU_EXPECT_F16 === '1') expect(ctx.summary.f16).toBe(true);
  if (process.env.GPU_EXPECT_F16 === '0') expect(ctx.summary.f16).toBe(false);
});

/** Default tolerances: f32 accumulates in f32; f16 stores inputs and outputs in f16 (≈ 1e-3 relative). */
export const TOL: Record<'f32' | 'f16', Tolerance> = {
  f32: { atol: 1e-5, rtol: 1e-4 },
  f16: { atol: 2e-3, rtol: 4e-3 },
};

/** What the GPU will see of host data in this dtype (f16 rounds). */
export function asDtype(x: Float32Array, dtype: DType): Float32Array {
  return dtype === 'f16' ? roundToF16(x) : x;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): void {
  const miss = firstMismatch(actual, expected, tol);
  expect(miss, miss ?? '').toBeNull();
}
