import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../compare';
import { roundToF16 } from '../f16';
import { randn } from '../random';
import { Tensor } from '../tensor';
import { asDtype, ctx, dtypes, expectClose } from '../testing/kernel-suite';
import { add, addCpu, axpy, axpyCpu } from './add';

/**
 * f32: the GPU's f32 add is correctly rounded, like storing the exact (f64) sum into a Float32Array: exact.
 * f16: the sum is formed in f32 and rounded to f16; the reference rounds the exact sum once, so the two may
 * differ by one f16 ulp (2⁻¹⁰ relative) where double rounding bites.
 */
const TOL: Record<'f32' | 'f16', Tolerance> = {
  f32: { atol: 0, rtol: 0 },
  f16: { atol: 1e-7, rtol: 1e-3 },
};

const expected = (a: Float32Array, b: Float32Array, dtype: 'f32' | 'f16') =>
  dtype === 'f16' ? roundToF16(addCpu(a, b)) : addCpu(a, b);

/** A tensor in a buffer of exactly its byte length (not padded to 16): forces the scalar path. */
function unpadded(data: Float32Array): Tensor {
  const buffer = ctx.device.createBuffer({
    size: data.byteLength,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  ctx.device.queue.writeBuffer(buffer, 0, data);
  return new Tensor(buffer, [data.length], 'f32');
}

describe('add', () => {
  for (const dtype of dtypes)
    for (const shape of [[1], [5], [7, 33], [3, 1000], [4097]]) {
      const n = shape.reduce((p, d) => p * d);
      const a = asDtype(randn(n, n, -100, 100), dtype);
      const b = asDtype(randn(n, n + 1, -1, 1), dtype);
      const up = () => [ctx.upload(a, shape, dtype), ctx.upload(b, shape, dtype)];

      it(`${dtype} [${shape}] into a new tensor`, async () => {
        const [ta, tb] = up();
        const y = add(ctx, ta, tb);
        expect(y.shape).toEqual(shape);
        expectClose(await ctx.read(y), expected(a, b, dtype), TOL[dtype]);
        expectClose(await ctx.read(ta), a, TOL.f32); // inputs untouched
      });
      it(`${dtype} [${shape}] in place into a, then into b`, async () => {
        const [ta, tb] = up();
        expect(add(ctx, ta, tb, ta)).toBe(ta);
        const once = await ctx.read(ta);
        expectClose(once, expected(a, b, dtype), TOL[dtype]);
        add(ctx, ta, tb, tb);
        expectClose(await ctx.read(tb), expected(once, b, dtype), TOL[dtype]);
      });
    }

  it('adds unpadded buffers element by element (scalar path)', async () => {
    const a = randn(5, 1);
    const b = randn(5, 2);
    const y = add(ctx, unpadded(a), unpadded(b));
    expectClose(await ctx.read(y), addCpu(a, b), TOL.f32);
  });

  it('splits large workgroup counts over two grid dimensions', async () => {
    const limits = ctx.summary.limits;
    const saved = limits.maxComputeWorkgroupsPerDimension;
    limits.maxComputeWorkgroupsPerDimension = 5; // 4100 elements → 17 workgroups of 64 vec4s
    try {
      const a = randn(4100, 3);
      const b = randn(4100, 4);
      const y = add(ctx, ctx.upload(a, [4100], 'f32'), ctx.upload(b, [4100], 'f32'));
      expectClose(await ctx.read(y), addCpu(a, b), TOL.f32);
    } finally {
      limits.maxComputeWorkgroupsPerDimension = saved;
    }
  });

  it('rejects mismatched operands', () => {
    const a = ctx.empty([2, 3], 'f32');
    expect(() => add(ctx, a, ctx.empty([3, 2], 'f32'))).toThrow(/add.b/);
    expect(() => add(ctx, a, ctx.empty([2, 3], 'f32'), ctx.empty([6], 'f32'))).toThrow(/add.out/);
    expect(() => add(ctx, a, a, a)).toThrow(/same buffer/);
  });
});

// axpy: y + a·x with f32 math; f16 outputs round once more (one f16 ulp).
describe('axpy', () => {
  for (const yType of dtypes)
    for (const xType of dtypes)
      for (const n of [1, 7, 1000, 4097]) {
        it(`y ${yType}, x ${xType}, n=${n}`, async () => {
          const y = asDtype(randn(n, n + 5, -2, 2), yType);
          const x = asDtype(randn(n, n + 6, -2, 2), xType);
          const a = -0.37;
          const ty = ctx.upload(y, [n], yType);
          expect(axpy(ctx, ty, ctx.upload(x, [n], xType), a)).toBe(ty);
          const want = axpyCpu(y, x, Math.fround(a));
          expectClose(await ctx.read(ty), yType === 'f16' ? roundToF16(want) : want, {
            atol: 1e-6,
            rtol: yType === 'f16' ? 1e-3 : 1e-6,
          });
        });
      }
  it('refuses x and y in one buffer and mismatched shapes', () => {
    const t = ctx.upload(new Float32Array(4), [4], 'f32');
    expect(() => axpy(ctx, t, t, 1)).toThrow(/share a buffer/);
    expect(() => axpy(ctx, t, ctx.upload(new Float32Array(3), [3], 'f32'), 1)).toThrow();
  });
});
