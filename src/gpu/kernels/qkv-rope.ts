import { type GpuContext, grid, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, assertShape, fmt, type Tensor } from '../tensor';
import { checkStart, type KvCache, kvWriteCpu } from './attention/kv-cache';
import { ROPE_ANGLE_WGSL, ropeCpu, turnTable } from './rope';

/**
 * The attention input block after one fused QKV projection, in one dispatch: replaces rope(q),
 * rope(k) and kvWrite(k, v).
 *   qkv [B, T, (H + 2·Hkv)·D]: each row is H query heads, then Hkv key heads, then Hkv value heads.
 *   Token t of sequence b sits at position start_b + t (start: one number, or a u32 [B] tensor).
 *   cache.k[b, start_b + t] = rope(k), cache.v[b, start_b + t] = v (rows past Smax are dropped);
 *   returns rope(q) [B, T, H, D] in qkv's dtype.
 * RoPE is rope.ts's math, bit for bit: the same angle reduction (ROPE_ANGLE_WGSL, turnTable) and the
 * same f32 expressions, so q, and k and v whenever qkv and the cache share a dtype or the cache is f16,
 * equal the unfused path exactly. One difference: with f16 qkv and an f32 cache, rope(k) goes to the
 * cache straight from f32 (the unfused path rounds it to f16 first). Rounding through f16 on purpose is
 * not reliable: compilers may fold an f32→f16→f32 round trip away (lavapipe does).
 *
 * One thread per (token, head slot, pair i): slot < H ropes query head `slot`; slot ≥ H ropes key head
 * slot − H and copies the matching value head (elements i and i + D/2). Heads are spread over threads,
 * not looped, so a single decode token still fills a few workgroups; cos/sin are recomputed per slot
 * (a few dozen flops). Barrier-free: one kernel for every adapter.
 */
const WG = 64;

function shader(src: 'f32' | 'f16', dst: 'f32' | 'f16', half: number, perSeqStart: boolean): string {
  return `${wgslTypes({ ST: src, CT: dst })}
struct P { B: u32, T: u32, H: u32, Hkv: u32, D: u32, npair: u32, Smax: u32, start: u32,
           tab: array<vec4f, ${half}> }
@group(0) @binding(0) var<storage, read> qkv: array<ST>;
@group(0) @binding(1) var<storage, read_write> kc: array<CT>;
@group(0) @binding(2) var<storage, read_write> vc: array<CT>;
@group(0) @binding(3) var<storage, read_write> qo: array<ST>;
${perSeqStart ? '@group(0) @binding(4) var<storage, read> starts: array<u32>;' : ''}
@group(0) @binding(${perSeqStart ? 5 : 4}) var<uniform> p: P;

${ROPE_ANGLE_WGSL}

@compute @workgroup_size(${WG})
fn qkv_rope_forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let id = g.y * n.x * ${WG}u + g.x;
  let slots = p.H + p.Hkv;
  if (id >= p.B * p.T * slots * p.npair) { return; }
  let i = id % p.npair;
  let slot = (id / p.npair) % slots;
  let bt = id / (p.npair * slots); // b·T + t
  let b = bt / p.T;
  let pos = ${perSeqStart ? 'starts[b]' : 'p.start'} + bt % p.T;
  let cs = rope_cos_sin(pos, p.tab[i]);
  let row = bt * (slots + p.Hkv) * p.D;
  // Same expressions as rope.ts, so q and k round identically.
  let j = row + slot * p.D + i;
  let x1 = f32(qkv[j]);
  let x2 = f32(qkv[j + p.npair]);
  let y1 = x1 * cs.x - x2 * cs.y;
  let y2 = x2 * cs.x + x1 * cs.y;
  if (slot < p.H) {
    let o = (bt * p.H + slot) * p.D + i;
    qo[o] = ST(y1);
    qo[o + p.npair] = ST(y2);
    return;
  }
  if (pos >= p.Smax) { return; } // past the cache: dropped, as kvWrite does
  let h = slot - p.H;
  let dst = ((b * p.Smax + pos) * p.Hkv + h) * p.D + i;
  kc[dst] = CT(y1);
  kc[dst + p.npair] = CT(y2);
  let jv = j + p.Hkv * p.D;
  vc[dst] = CT(qkv[jv]);
  vc[dst + p.npair] = CT(qkv[jv + p.npair]);
}`;
}

/**
 * qkv [B, T, (H + 2·Hkv)·D] → rope(q) [B, T, H, D]; writes rope(k) and v into `cache` at rows
 * start_b + t. `start`: a number (all of [start, start + T) must fit Smax) or a u32 [B] tensor.
 */
export function qkvRopeWrite(
  ctx: GpuContext,
  qkv: Tensor,
  cache: KvCache,
  start: number | Tensor,
  theta: number,
  H: number,
): Tensor {
  const { B, Smax, Hkv, D } = cache;
  const T = qkv.shape[1];
  assertShape('qkvRopeWrite.qkv', qkv, [B, T, (H + 2 * Hkv) * D]);
  assertDtype('qkvRopeWrite.qkv', qkv, 'f32', 'f16');
  assertDtype('qkvRopeWrite.cache.k', cache.k, 'f32', 'f16');
  assertDtype('qkvRopeWrite.cache.v', cache.v, cache.k.dtype);
  if (!Number.isInteger(H) || H < 1) throw new Error(`qkvRopeWrite: bad head count ${H}`);
  if (D % 2 !== 0 || D < 2) throw new Error(`qkvRopeWrite: head dim ${D} must be even and positive`);
  if (32 + D * 8 > ctx.device.limits.maxUniformBufferBindingSize)
    throw new Error(`qkvRopeWrite: head dim ${D} too large for the uniform table`);
  checkStart('qkvRopeWrite', start, B, T, Smax);
  const perSeq = typeof start !== 'number';
  const half = D / 2;
  const q = ctx.empty([B, T, H, D], qkv.dtype);
  const src = qkv.dtype as 'f32' | 'f16';
  const dst = cache.k.dtype as 'f32' | 'f16';
  const entry = 'qkv_rope_forward';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`qkv_rope|${src}|${dst}|${half}|${perSeq}`, () => shader(src, dst, half, perSeq)),
      entry,
    ),
    bindings: [qkv, cache.k, cache.v, q, ...(perSeq ? [start] : [])],
    uniforms: { u32: [B, T, H, Hkv, D, half, Smax, perSeq ? 0 : start], f32: turnTable(D, theta) },
    workgroups: grid(Math.ceil((B * T * (H + Hkv) * half) / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return q;
}

export interface QkvRopeDims {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  Smax: number;
  /** Position of token 0, per sequence. */
  starts: readonly number[];
  theta: number;
}

/**
 * CPU reference (f64 math): splits each row into q, k, v, ropes q and k with ropeCpu, writes k and v
 * into the host cache copies [B, Smax, Hkv, D] with kvWriteCpu; returns rope(q) [B, T, H, D].
 */
export function qkvRopeWriteCpu(
  qkv: Float32Array,
  cacheK: Float32Array,
  cacheV: Float32Array,
  dims: QkvRopeDims,
): Float32Array {
  const { B, T, H, Hkv, D, Smax, starts, theta } = dims;
  const W = (H + 2 * Hkv) * D;
  if (qkv.length !== B * T * W)
    throw new Error(`qkvRopeWriteCpu: ${qkv.length} values for ${fmt([B, T, W])}`);
  const q = new Float32Array(B * T * H * D);
  const k = new Float32Array(B * T * Hkv * D);
  const v = new Float32Array(B * T * Hkv * D);
  for (let r = 0; r < B * T; r++) {
    const row = qkv.subarray(r * W, (r + 1) * W);
    q.set(row.subarray(0, H * D), r * H * D);
    k.set(row.subarray(H * D, (H + Hkv) * D), r * Hkv * D);
    v.set(row.subarray((H + Hkv) * D), r * Hkv * D);
  }
  const positions = Array.from({ length: B * T }, (_, r) => starts[Math.floor(r / T)] + (r % T));
  const kr = ropeCpu(k, positions, B * T, Hkv, D, theta);
  kvWriteCpu(cacheK, kr, { B, Smax, Hkv, D, T, starts });
  kvWriteCpu(cacheV, v, { B, Smax, Hkv, D, T, starts });
  return ropeCpu(q, positions, B * T, H, D, theta);
}
