/**
 * The ledger counts every buffer on the device: pooled tensors (in use or free), a dispatch's uniform
 * buffer, readback staging; destroying the context brings it back to where it started.
 */
import { describe, expect, it } from 'vitest';
import { GpuContext } from './context';
import { add } from './kernels/add';
import { ctx as shared } from './testing/kernel-suite';

describe('buffer ledger', () => {
  it('counts pool, uniform and readback buffers until they are destroyed', async () => {
    const ctx = new GpuContext(shared.device, shared.summary);
    const start = ctx.memory;
    const a = ctx.upload(new Float32Array(300), [300], 'f32');
    const b = ctx.upload(new Float32Array(300), [300], 'f32');
    expect(ctx.memory.buffers - start.buffers).toBe(2);
    expect(ctx.memory.bytes - start.bytes).toBe(2 * 1200);
    const c = add(ctx, a, b);
    await ctx.read(c);
    const used = ctx.memory;
    expect(used.buffers - start.buffers).toBeGreaterThanOrEqual(4); // + output, + readback
    ctx.release(a, b, c);
    expect(ctx.memory).toEqual(used); // released to the pool: still held on the GPU
    // The same step again reuses everything.
    const x = ctx.upload(new Float32Array(300), [300], 'f32');
    const y = ctx.upload(new Float32Array(300), [300], 'f32');
    const z = add(ctx, x, y);
    await ctx.read(z);
    ctx.release(x, y, z);
    expect(ctx.memory).toEqual(used);
    ctx.destroy();
    expect(ctx.memory).toEqual(start);
  });
});
