import { describe, expect, it } from 'vitest';
import { randn } from '../random';
import type { Tensor } from '../tensor';
import { asDtype, ctx, dtypes, expectClose, TOL } from '../testing/kernel-suite';
import { type KvCache, kvWrite } from './attention/kv-cache';
import { qkvRopeWrite, qkvRopeWriteCpu } from './qkv-rope';
import { rope } from './rope';

// Against the f64 reference (on the same, possibly f16-rounded, inputs): the suite's TOL of the output's
// dtype (rope.test.ts explains why f32 is good to ~1e-6). Against the unfused GPU path (rope, rope,
// kvWrite): exact — except rope(k) with f16 qkv and an f32 cache, which the fused kernel does not round
// to f16 (see qkv-rope.ts), so there it is within one f16 rounding.

const EXACT = { atol: 0, rtol: 0 };
const THETA = 1e6;

interface Case {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  Smax: number;
  start: number | number[];
}

const CASES: Case[] = [
  { B: 1, T: 1, H: 4, Hkv: 2, D: 8, Smax: 8, start: 3 }, // one decode token
  { B: 1, T: 5, H: 3, Hkv: 1, D: 64, Smax: 9, start: 0 }, // prefill chunk, odd H
  { B: 3, T: 1, H: 4, Hkv: 2, D: 64, Smax: 40, start: [0, 17, 39] }, // ragged decode, last row at Smax − 1
  { B: 3, T: 5, H: 3, Hkv: 1, D: 8, Smax: 12, start: [2, 9, 0] }, // sequence 1: rows 12, 13 dropped
  { B: 3, T: 5, H: 4, Hkv: 2, D: 8, Smax: 6, start: [6, 3, 70000] }, // whole sequences past the cache; q at pos > 2^16
];

/** A cache whose rows hold known values (so the test sees what was left untouched). */
function filledCache(c: Case, dtype: 'f32' | 'f16', seed: number) {
  const n = c.B * c.Smax * c.Hkv * c.D;
  const k = asDtype(randn(n, seed), dtype);
  const v = asDtype(randn(n, seed + 1), dtype);
  const shape = [c.B, c.Smax, c.Hkv, c.D];
  const make = (): KvCache => ({
    B: c.B,
    Smax: c.Smax,
    Hkv: c.Hkv,
    D: c.D,
    k: ctx.upload(k, shape, dtype),
    v: ctx.upload(v, shape, dtype),
  });
  return { make, k, v };
}

const u32 = (xs: readonly number[]) => ctx.upload(Uint32Array.from(xs), [xs.length], 'u32');

/** The unfused path: q, k, v split on the host, rope each, kvWrite (per-sequence starts). */
function unfused(c: Case, qkv: Float32Array, act: 'f32' | 'f16', cache: KvCache, starts: number[]): Tensor {
  const { B, T, H, Hkv, D } = c;
  const W = (H + 2 * Hkv) * D;
  const part = (lo: number, hi: number) => {
    const out = new Float32Array(B * T * (hi - lo) * D);
    for (let r = 0; r < B * T; r++) out.set(qkv.subarray(r * W + lo * D, r * W + hi * D), r * (hi - lo) * D);
    return out;
  };
  const pos = u32(Array.from({ length: B * T }, (_, r) => starts[Math.floor(r / T)] + (r % T)));
  const q = rope(ctx, ctx.upload(part(0, H), [B * T, H, D], act), pos, THETA);
  const k = rope(ctx, ctx.upload(part(H, H + Hkv), [B * T, Hkv, D], act), pos, THETA);
  const v = ctx.upload(part(H + Hkv, H + 2 * Hkv), [B, T, Hkv, D], act);
  kvWrite(ctx, cache, k.view([B, T, Hkv, D]), v, u32(starts));
  return q;
}

describe('qkvRopeWrite', () => {
  for (const act of dtypes)
    for (const cdt of dtypes)
      for (const c of CASES) {
        const { B, T, H, Hkv, D, Smax, start } = c;
        it(`qkv:${act} cache:${cdt} B=${B} T=${T} H=${H}/${Hkv} D=${D} Smax=${Smax} start=${JSON.stringify(start)}`, async () => {
          const seed = B * 1000 + T * 100 + D + H;
          const qkv = asDtype(randn(B * T * (H + 2 * Hkv) * D, seed, -3, 3), act);
          const fused = filledCache(c, cdt, seed + 1);
          const starts = typeof start === 'number' ? new Array(B).fill(start) : start;

          const cache = fused.make();
          const q = qkvRopeWrite(
            ctx,
            ctx.upload(qkv, [B, T, (H + 2 * Hkv) * D], act),
            cache,
            typeof start === 'number' ? start : u32(start),
            THETA,
            H,
          );
          expect(q.shape).toEqual([B, T, H, D]);
          expect(q.dtype).toBe(act);
          const [gq, gk, gv] = [await ctx.read(q), await ctx.read(cache.k), await ctx.read(cache.v)];

          // f64 reference.
          const { k: hk, v: hv } = fused;
          const wantK = hk.slice();
          const wantV = hv.slice();
          const wantQ = qkvRopeWriteCpu(qkv, wantK, wantV, { B, T, H, Hkv, D, Smax, starts, theta: THETA });
          expectClose(gq, wantQ, TOL[act]);
          expectClose(gk, wantK, TOL[cdt]);
          expectClose(gv, asDtype(wantV, cdt), EXACT); // v is copied (f16 → f32 is exact)

          // The unfused GPU path, exactly.
          const ref = fused.make();
          const uq = unfused(c, qkv, act, ref, starts);
          expectClose(gq, await ctx.read(uq), EXACT);
          expectClose(gk, await ctx.read(ref.k), act === 'f16' && cdt === 'f32' ? TOL.f16 : EXACT);
          expectClose(gv, await ctx.read(ref.v), EXACT);
        });
      }

  it('leaves cache rows outside [start, start + T) untouched and sequences apart', async () => {
    const c: Case = { B: 2, T: 2, H: 1, Hkv: 1, D: 4, Smax: 5, start: [1, 3] };
    const { make, k, v } = filledCache(c, 'f32', 77);
    const cache = make();
    const qkv = randn(2 * 2 * 3 * 4, 78);
    qkvRopeWrite(ctx, ctx.upload(qkv, [2, 2, 12], 'f32'), cache, u32([1, 3]), THETA, 1);
    const [gk, gv] = [await ctx.read(cache.k), await ctx.read(cache.v)];
    const written = new Set([1, 2, 5 + 3, 5 + 4]); // (b·Smax + pos) rows
    for (let r = 0; r < 10; r++)
      if (!written.has(r)) {
        expectClose(gk.subarray(r * 4, r * 4 + 4), k.subarray(r * 4, r * 4 + 4), EXACT);
        expectClose(gv.subarray(r * 4, r * 4 + 4), v.subarray(r * 4, r * 4 + 4), EXACT);
      }
    // v row of sequence 1, token 1 (position 4) is the last 4 values of qkv.
    expectClose(gv.subarray(9 * 4), qkv.subarray(qkv.length - 4), EXACT);
  });

  it('rejects bad shapes and a host start that does not fit', () => {
    const cache: KvCache = {
      B: 1,
      Smax: 4,
      Hkv: 1,
      D: 8,
      k: ctx.empty([1, 4, 1, 8], 'f32'),
      v: ctx.empty([1, 4, 1, 8], 'f32'),
    };
    const qkv = ctx.empty([1, 3, 32], 'f32');
    expect(() => qkvRopeWrite(ctx, qkv, cache, 2, THETA, 2)).toThrow(/fit/);
    expect(() => qkvRopeWrite(ctx, qkv, cache, 0, THETA, 3)).toThrow(/qkvRopeWrite\.qkv/);
    expect(() => qkvRopeWrite(ctx, qkv, cache, u32([0, 0]), THETA, 2)).toThrow(/start/);
  });
});
