import { describe, expect, it } from 'vitest';
import { toF16Array } from '../f16';
import { randn } from '../random';
import { type DType, Tensor } from '../tensor';
import { ctx, expectClose } from '../testing/kernel-suite';
import { copy, copyCpu } from './copy';

const EXACT = { atol: 0, rtol: 0 };

/** Host data as the raw bits of each dtype (copy is dtype-blind; f16 needs no shader-f16). */
function data(n: number, dtype: DType, seed: number): Float32Array | Uint16Array | Uint32Array {
  const x = randn(n, seed, -1e3, 1e3);
  if (dtype === 'f16') return toF16Array(x);
  if (dtype === 'u32') return Uint32Array.from(x, (v) => (v * 4e6) >>> 0);
  return x;
}

/** Reads a tensor back as its raw bits, trimmed to its length. */
async function bits(t: Tensor): Promise<Uint16Array | Uint32Array> {
  const words = await ctx.readU32(t);
  return t.dtype === 'f16' ? new Uint16Array(words.buffer, 0, t.size) : words.subarray(0, t.size);
}

describe('copy', () => {
  for (const dtype of ['f32', 'f16', 'u32'] as DType[])
    for (const n of [1, 3, 7, 1001, 4099]) {
      it(`${dtype} n=${n}`, async () => {
        const src = data(n, dtype, n);
        const t = ctx.upload(src, [n], dtype);
        const y = copy(ctx, t);
        expect(y).not.toBe(t);
        expect(y.shape).toEqual([n]);
        expect(y.dtype).toBe(dtype);
        const want = dtype === 'f16' ? src : new Uint32Array(src.buffer, 0, n);
        expect(Array.from(await bits(y))).toEqual(Array.from(want));
      });
    }

  it('copies into a given tensor, and a tensor onto itself is a no-op', async () => {
    const x = randn(6, 1);
    const t = ctx.upload(x, [2, 3], 'f32');
    const dst = ctx.upload(new Float32Array(6), [6], 'f32');
    expect(copy(ctx, t, dst)).toBe(dst);
    expectClose(await ctx.read(dst), copyCpu(x), EXACT);
    expect(copy(ctx, t, t)).toBe(t);
    expectClose(await ctx.read(t), x, EXACT);
  });

  it('copies word by word from a buffer not padded to 16 bytes', async () => {
    const x = randn(5, 2);
    const buffer = ctx.device.createBuffer({
      size: x.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    ctx.device.queue.writeBuffer(buffer, 0, x);
    expectClose(await ctx.read(copy(ctx, new Tensor(buffer, [5], 'f32'))), x, EXACT);
  });

  it('splits large workgroup counts over two grid dimensions', async () => {
    const limits = ctx.summary.limits;
    const saved = limits.maxComputeWorkgroupsPerDimension;
    limits.maxComputeWorkgroupsPerDimension = 5; // 4100 f32 → 1025 vec4 → 17 workgroups
    try {
      const x = randn(4100, 3);
      expectClose(await ctx.read(copy(ctx, ctx.upload(x, [4100], 'f32'))), x, EXACT);
    } finally {
      limits.maxComputeWorkgroupsPerDimension = saved;
    }
  });

  it('rejects a destination of another size', () => {
    expect(() => copy(ctx, ctx.empty([4], 'f32'), ctx.empty([5], 'f32'))).toThrow(/bytes/);
  });
});
