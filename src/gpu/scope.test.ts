/**
 * GpuContext.tidy / keep: what a scope makes is released at its end (normally or by a throw) except
 * what it returns or keeps; returned tensors move to the enclosing scope; ownership is by buffer, so
 * views and early releases never release a buffer twice; tensors made outside any scope are the
 * caller's. And a repeated scoped step reuses the same buffers, so it creates no bind group once warm.
 */
import { describe, expect, it } from 'vitest';
import { add } from './kernels/add';
import type { Tensor } from './tensor';
import { ctx } from './testing/kernel-suite';

const { pool } = ctx;
const free = (t: Tensor) => pool.isFree(t.buffer);
const x4 = () => ctx.upload(Float32Array.of(1, 2, 3, 4), [4], 'f32');

describe('GpuContext.tidy', () => {
  it('releases what the scope made at its end', () => {
    const before = pool.inUseCount;
    let a!: Tensor;
    let b!: Tensor;
    ctx.tidy(() => {
      a = ctx.empty([4], 'f32');
      b = add(ctx, x4(), x4()); // a kernel's output and its uploaded inputs
      expect(pool.inUseCount).toBe(before + 4);
    });
    expect(free(a) && free(b)).toBe(true);
    expect(pool.inUseCount).toBe(before);
    expect(ctx.scopeDepth).toBe(0);
  });

  it('keeps what it returns (a tensor, or tensors in arrays and plain objects), with correct values', async () => {
    const before = pool.inUseCount;
    const y = ctx.tidy(() => add(ctx, x4(), x4()));
    expect(Array.from(await ctx.read(y))).toEqual([2, 4, 6, 8]);
    const r = ctx.tidy(() => ({
      s: add(ctx, y, y),
      list: [ctx.empty([2], 'f32'), { t: ctx.empty([3], 'u32') }],
      n: 3,
    }));
    expect(pool.inUseCount).toBe(before + 4);
    expect(Array.from(await ctx.read(r.s))).toEqual([4, 8, 12, 16]);
    ctx.release(y, r.s, r.list[0] as Tensor, (r.list[1] as { t: Tensor }).t);
    expect(pool.inUseCount).toBe(before);
  });

  it('keeps what keep() is given, beyond every open scope', () => {
    const before = pool.inUseCount;
    let dropped!: Tensor;
    let kept!: Tensor;
    ctx.tidy(() => {
      ctx.tidy(() => {
        dropped = ctx.empty([4], 'f32');
        kept = ctx.keep(ctx.empty([8], 'f32'));
      });
      expect(ctx.keep([kept])[0]).toBe(kept); // keeping twice is harmless
    });
    expect(free(dropped)).toBe(true);
    expect(free(kept)).toBe(false);
    expect(pool.inUseCount).toBe(before + 1);
    ctx.release(kept);
  });

  it('moves a returned tensor to the enclosing scope, which releases it unless it returns it too', () => {
    const before = pool.inUseCount;
    let inner!: Tensor;
    const outer = ctx.tidy(() => {
      inner = ctx.tidy(() => ctx.empty([4], 'f32'));
      const returned = ctx.tidy(() => [ctx.empty([4], 'f32')]);
      expect(free(inner)).toBe(false);
      return returned[0];
    });
    expect(free(inner)).toBe(true);
    expect(free(outer)).toBe(false);
    ctx.release(outer);
    expect(pool.inUseCount).toBe(before);
  });

  it('leaves an outer scope’s tensors to it, even when an inner scope returns or updates them', () => {
    ctx.tidy(() => {
      const x = x4();
      const same = ctx.tidy(() => add(ctx, x, x4(), x)); // in place: returns x itself
      expect(same).toBe(x);
      ctx.tidy(() => add(ctx, x, x4(), x));
      expect(free(x)).toBe(false);
    });
  });

  it('tracks by buffer: a returned view keeps its buffer; releasing a view frees it once', () => {
    const before = pool.inUseCount;
    const v = ctx.tidy(() => ctx.empty([2, 4], 'f32').view([8]));
    expect(free(v)).toBe(false);
    ctx.tidy(() => {
      const t = ctx.empty([2, 4], 'f32');
      ctx.release(t.view([4, 2])); // early, through a view: the scope must not release t again
      expect(free(t)).toBe(true);
      const u = ctx.empty([2, 4], 'f32'); // may reuse t's buffer: owned again by this scope
      expect(u.shape).toEqual([2, 4]);
    });
    ctx.release(v);
    expect(pool.inUseCount).toBe(before);
  });

  it('allows releasing early, and releasing an outer or unscoped tensor inside', () => {
    const before = pool.inUseCount;
    const mine = ctx.empty([4], 'f32'); // made outside any scope: the caller's
    ctx.tidy(() => {
      const outer = ctx.empty([4], 'f32');
      ctx.tidy(() => {
        const a = ctx.empty([4], 'f32');
        ctx.release(a, outer, mine);
      });
    });
    expect(pool.inUseCount).toBe(before);
  });

  it('releases everything when the function throws, and the scope stack unwinds', () => {
    const before = pool.inUseCount;
    let a!: Tensor;
    expect(() =>
      ctx.tidy(() => {
        a = ctx.empty([4], 'f32');
        ctx.tidy(() => {
          ctx.empty([4], 'f32');
          throw new Error('boom');
        });
      }),
    ).toThrow('boom');
    expect(free(a)).toBe(true);
    expect(pool.inUseCount).toBe(before);
    expect(ctx.scopeDepth).toBe(0);
  });

  it('refuses an async function and a returned released tensor', () => {
    const before = pool.inUseCount;
    expect(() =>
      ctx.tidy(async () => {
        ctx.empty([4], 'f32');
      }),
    ).toThrow(/synchronous/);
    expect(() =>
      ctx.tidy(() => {
        const t = ctx.empty([4], 'f32');
        ctx.release(t);
        return t;
      }),
    ).toThrow(/released tensor/);
    expect(pool.inUseCount).toBe(before);
    expect(ctx.scopeDepth).toBe(0);
  });

  it('outside any scope, tensors are the caller’s as before', () => {
    const before = pool.inUseCount;
    const t = ctx.empty([4], 'f32');
    expect(pool.inUseCount).toBe(before + 1);
    expect(pool.inUseBytes).toBeGreaterThanOrEqual(16);
    ctx.release(t);
    expect(pool.inUseCount).toBe(before);
  });

  it('a repeated scoped step reuses its buffers: no new bind group once warm', async () => {
    const x = x4();
    // Two chained adds per step; intermediates die at the scope's end, the sum survives until read.
    const step = () => ctx.tidy(() => add(ctx, add(ctx, x, x4()), add(ctx, x, x)));
    for (let i = 0; i < 2; i++) {
      const y = step();
      await ctx.read(y);
      ctx.release(y);
    }
    const created = ctx.stats.bindGroupsCreated;
    for (let i = 0; i < 3; i++) {
      const y = step();
      expect(Array.from(await ctx.read(y))).toEqual([4, 8, 12, 16]);
      ctx.release(y);
    }
    expect(ctx.stats.bindGroupsCreated).toBe(created);
    ctx.release(x);
  });
});
