import { type GpuContext, grid, type Variant, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import { assertDtype, assertShape, fmt, type Tensor } from '../../tensor';
import { attentionCpu } from './cpu';
import { runAttention } from './run';

/**
 * One layer's KV cache: k and v [B, Smax, Hkv, D] in the activation dtype, one row per position.
 * Each sequence b has its own length (batched rollouts finish at different times); the caller keeps
 * the lengths, on the host or in a u32 [B] tensor, and passes them to kvWrite / attentionDecode.
 */
export interface KvCache {
  k: Tensor; // [B, Smax, Hkv, D]
  v: Tensor; // [B, Smax, Hkv, D]
  B: number;
  Smax: number;
  Hkv: number;
  D: number;
}

export interface KvCacheDims {
  B: number;
  Smax: number;
  Hkv: number;
  D: number;
}

export function createKvCache(ctx: GpuContext, dims: KvCacheDims, dtype = ctx.actDtype): KvCache {
  const { B, Smax, Hkv, D } = dims;
  const shape = [B, Smax, Hkv, D];
  return { ...dims, k: ctx.empty(shape, dtype, 'kv.k'), v: ctx.empty(shape, dtype, 'kv.v') };
}

export function releaseKvCache(ctx: GpuContext, cache: KvCache): void {
  ctx.release(cache.k, cache.v);
}

// ---- write ------------------------------------------------------------------------------------

const WG = 256;

function writeShader(src: 'f32' | 'f16', dst: 'f32' | 'f16', perSeqStart: boolean): string {
  const startBinding = perSeqStart ? '@group(0) @binding(4) var<storage, read> starts: array<u32>;' : '';
  return `${wgslTypes({ ST: src, CT: dst })}
struct P { B: u32, T: u32, Smax: u32, HD: u32, start: u32 }
@group(0) @binding(0) var<storage, read> kn: array<ST>;
@group(0) @binding(1) var<storage, read> vn: array<ST>;
@group(0) @binding(2) var<storage, read_write> kc: array<CT>;
@group(0) @binding(3) var<storage, read_write> vc: array<CT>;
${startBinding}
@group(0) @binding(${perSeqStart ? 5 : 4}) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn kv_write_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * ${WG}u;
  if (e >= p.B * p.T * p.HD) { return; }
  let hd = e % p.HD;
  let t = (e / p.HD) % p.T;
  let b = e / (p.HD * p.T);
  let pos = ${perSeqStart ? 'starts[b]' : 'p.start'} + t;
  if (pos >= p.Smax) { return; } // past the cache: dropped (the host checks what it can)
  let dst = (b * p.Smax + pos) * p.HD + hd;
  kc[dst] = CT(kn[e]);
  vc[dst] = CT(vn[e]);
}`;
}

/**
 * Writes T new rows per sequence: cache[b, start_b + t] = new[b, t] for k and v.
 * kNew, vNew [B, T, Hkv, D] (any float dtype; converted to the cache's). start: one position for all
 * sequences, or a u32 [B] tensor (rows that would land past Smax are dropped on the GPU).
 */
export function kvWrite(
  ctx: GpuContext,
  cache: KvCache,
  kNew: Tensor,
  vNew: Tensor,
  start: number | Tensor,
): void {
  const { B, Smax, Hkv, D } = cache;
  const T = kNew.shape[1];
  assertShape('kvWrite.k', kNew, [B, T, Hkv, D]);
  assertShape('kvWrite.v', vNew, [B, T, Hkv, D]);
  assertDtype('kvWrite.k', kNew, 'f32', 'f16');
  assertDtype('kvWrite.v', vNew, kNew.dtype);
  checkStart('kvWrite', start, B, T, Smax);
  const perSeq = typeof start !== 'number';
  const ct = cache.k.dtype as 'f32' | 'f16';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`kv_write|${kNew.dtype}|${ct}|${perSeq}`, () =>
        writeShader(kNew.dtype as 'f32' | 'f16', ct, perSeq),
      ),
      'kv_write_forward',
    ),
    bindings: [kNew, vNew, cache.k, cache.v, ...(perSeq ? [start] : [])],
    uniforms: { u32: [B, T, Smax, Hkv * D, perSeq ? 0 : start] },
    workgroups: grid(Math.ceil((B * T * Hkv * D) / WG), ctx.maxWorkgroupsPerDim),
    label: 'kv_write_forward',
  });
}

/**
 * Validates a write start: a u32 [B] tensor (per sequence; rows past Smax dropped on the GPU), or one
 * number whose rows [start, start + T) must fit Smax.
 */
export function checkStart(what: string, start: number | Tensor, B: number, T: number, Smax: number): void {
  if (typeof start !== 'number') {
    assertShape(`${what}.start`, start, [B]);
    assertDtype(`${what}.start`, start, 'u32');
  } else if (!Number.isInteger(start) || start < 0 || start + T > Smax) {
    throw new Error(`${what}: rows [${start}, ${start + T}) do not fit Smax=${Smax}`);
  }
}

/** CPU reference of kvWrite on host copies of one cache buffer [B, Smax, Hkv, D] (k or v). */
export function kvWriteCpu(
  cache: Float32Array,
  rows: Float32Array,
  dims: KvCacheDims & { T: number; starts: readonly number[] },
): void {
  const { B, Smax, Hkv, D, T, starts } = dims;
  const HD = Hkv * D;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const pos = starts[b] + t;
      if (pos >= Smax) continue;
      for (let e = 0; e < HD; e++) cache[(b * Smax + pos) * HD + e] = rows[(b * T + t) * HD + e];
    }
}

// ---- decode attention -------------------------------------------------------------------------

export interface DecodeOptions {
  /** Split-K over the cache: a count, 1 for the plain path, or 'auto' (default: split when B·Hq is small). */
  splits?: number | 'auto';
  /** Host-known bound of the lengths when they live on the GPU (default Smax); sizes split-K chunks. */
  maxLength?: number;
  variant?: Variant;
}

/**
 * Attention of new queries over the cache. q [B, Hq, D] (one token) or [B, T, Hq, D] (a chunk just
 * written at the end of each sequence). lengths: keys valid per sequence, the just-written rows
 * included — one number for all, or a u32 [B] tensor. Query t of sequence b sits at position
 * lengths[b] − T + t and sees keys 0..that position (causal inside the chunk). → q's shape and dtype.
 */
export function attentionDecode(
  ctx: GpuContext,
  q: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  lengths: number | Tensor,
  scale: number,
  opts: DecodeOptions = {},
): Tensor {
  const single = q.shape.length === 3;
  if (!single && q.shape.length !== 4)
    throw new Error(`attentionDecode.q: expected [B, (T,) Hq, D], got ${fmt(q.shape)}`);
  const [B, T, Hq, D] = single ? [q.shape[0], 1, q.shape[1], q.shape[2]] : q.shape;
  const [, Smax, Hkv] = cacheK.shape;
  assertShape('attentionDecode.cacheK', cacheK, [B, Smax, Hkv, D]);
  assertShape('attentionDecode.cacheV', cacheV, [B, Smax, Hkv, D]);
  assertDtype('attentionDecode.q', q, 'f32', 'f16');
  assertDtype('attentionDecode.cacheK', cacheK, 'f32', 'f16');
  assertDtype('attentionDecode.cacheV', cacheV, cacheK.dtype);
  if (Hq % Hkv !== 0) throw new Error(`attentionDecode: Hq=${Hq} is not a multiple of Hkv=${Hkv}`);
  const perSeq = typeof lengths !== 'number';
  if (perSeq) {
    assertShape('attentionDecode.lengths', lengths, [B]);
    assertDtype('attentionDecode.lengths', lengths, 'u32');
  } else if (!Number.isInteger(lengths) || lengths < T || lengths > Smax) {
    throw new Error(`attentionDecode: length ${lengths} must be in [T=${T}, Smax=${Smax}]`);
  }
  const maxKeys = perSeq ? Math.min(opts.maxLength ?? Smax, Smax) : lengths;
  const out = runAttention(ctx, {
    q: q.view([B, T, Hq, D]),
    k: cacheK,
    v: cacheV,
    lens: perSeq ? lengths : null,
    nKeys: perSeq ? Smax : lengths,
    qOffset: perSeq ? 0 : lengths - T,
    maxKeys,
    causal: true,
    scale,
    splits: opts.splits ?? 'auto',
    variant: opts.variant ?? ctx.variant,
  });
  return out.view(q.shape);
}

/** CPU reference of attentionDecode (f64): q [B, T, Hq, D], cache [B, Smax, Hkv, D]. */
export function attentionDecodeCpu(
  q: Float32Array,
  cacheK: Float32Array,
  cacheV: Float32Array,
  dims: {
    B: number;
    T: number;
    Smax: number;
    Hq: number;
    Hkv: number;
    D: number;
    lengths: readonly number[];
    scale: number;
  },
): Float32Array {
  const { Smax, lengths, ...rest } = dims;
  return attentionCpu(q, cacheK, cacheV, { ...rest, S: Smax, causal: true, kvLengths: lengths });
}
