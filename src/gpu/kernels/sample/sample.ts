import { type GpuContext, grid, type Variant, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import { assertDtype, assertShape, type DType, type Tensor } from '../../tensor';

/**
 * Token sampling on the GPU: logits [B, V] (f32 or f16) → ids u32 [B]; only the ids need reading back.
 *
 * Semantics are the CPU reference's (src/model/sampling.ts `sampleCpu`, which documents them); this
 * file takes them already resolved (`resolveSampling`), so src/gpu stays model-agnostic:
 *   1. penalty (optional): w = f32 copy of the logits, then every history id's logit is penalised
 *      (positive × 1/p, negative × p); duplicates in the history write the same value.
 *   2. top-k in passes: each chunk of CHUNK inputs yields its best K (value desc, id asc, padded with
 *      (LOWEST, NONE)); the [B, chunks·K] candidates are cut again until one chunk is left. 'flat' keeps
 *      a sorted list per thread (no barriers); 'tiled' bitonic-sorts a chunk in shared memory, or for
 *      K = 1 (greedy) reduces an argmax in shared memory.
 *   3. draw: one thread per row applies temperature and top-p to the sorted K and inverts the CDF at
 *      the host's uniform. Greedy is K = 1 and needs no draw.
 * 'full' mode (top-k off, top-p 1) skips the sort: per-chunk max and Σexp, then one thread per row
 * finds the chunk and the id where the cumulative weight passes u·Z, in id order.
 */
export const CHUNK = 1024;
const WG_FLAT = 64;
const WG_TILED = 256;
/** Largest k the passes select (per-thread lists in 'flat'; 4× reduction per pass with CHUNK 1024). */
export const SAMPLE_K_MAX = 256;
const K_MAX = SAMPLE_K_MAX;
const NONE = 0xffffffff;

export interface GpuSampling {
  mode: 'greedy' | 'topk' | 'full';
  /** Candidates kept (≤ 256); 1 for greedy, unused for full. */
  k: number;
  topP: number;
  invTemperature: number;
  penalty: number;
}

const COMMON = `
const LOWEST = bitcast<f32>(0xff7fffffu);
const NONE = ${NONE}u;
fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool { return va > vb || (va == vb && ia < ib); }
`;

const linearId = (wg: number) => `let t = g.x + g.y * nw.x * ${wg}u;`;

// ---- 1. penalty -----------------------------------------------------------------------------------

function copyShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}${COMMON}
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG_FLAT})
fn sample_copy(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${linearId(WG_FLAT)}
  if (t >= p.n) { return; }
  w[t] = max(f32(x[t]), LOWEST);
}`;
}

function penaltyShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}${COMMON}
struct P { B: u32, V: u32, L: u32, invp: f32, pen: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> prev: array<u32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG_FLAT})
fn sample_penalty(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${linearId(WG_FLAT)}
  if (t >= p.B * p.L) { return; }
  let id = prev[t];
  if (id >= p.V) { return; }
  let i = (t / p.L) * p.V + id;
  let v = max(f32(x[i]), LOWEST);
  w[i] = max(select(v * p.pen, v * p.invp, v > 0.0), LOWEST);
}`;
}

// ---- 2. top-k passes ------------------------------------------------------------------------------

/** First pass reads the logits (ids implicit); later passes read candidate (value, id) pairs. */
function topkShader(variant: Variant, first: boolean, dtype: DType, argmax: boolean): string {
  const inputs = first
    ? `@group(0) @binding(0) var<storage, read> xv: array<T>;
fn val(r: u32, j: u32) -> f32 { return max(f32(xv[r * p.n + j]), LOWEST); }
fn idx(r: u32, j: u32) -> u32 { return j; }`
    : `@group(0) @binding(0) var<storage, read> xv: array<f32>;
@group(0) @binding(1) var<storage, read> xi: array<u32>;
fn val(r: u32, j: u32) -> f32 { return xv[r * p.n + j]; }
fn idx(r: u32, j: u32) -> u32 { return xi[r * p.n + j]; }`;
  const b = first ? 1 : 2;
  const head = `${wgslTypes({ T: first ? dtype : 'f32' })}${COMMON}
struct P { B: u32, n: u32, K: u32, nOut: u32 }
@group(0) @binding(${b}) var<storage, read_write> ov: array<f32>;
@group(0) @binding(${b + 1}) var<storage, read_write> oi: array<u32>;
@group(0) @binding(${b + 2}) var<uniform> p: P;
${inputs}
`;
  const entry = `sample_topk_${variant}`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG_FLAT})
fn ${entry}(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${linearId(WG_FLAT)}
  if (t >= p.B * p.nOut) { return; }
  let r = t / p.nOut;
  let start = (t % p.nOut) * ${CHUNK}u;
  let end = min(start + ${CHUNK}u, p.n);
  var tv: array<f32, ${K_MAX}>;
  var ti: array<u32, ${K_MAX}>;
  var cnt = 0u;
  for (var j = start; j < end; j++) {
    let v = val(r, j);
    let id = idx(r, j);
    if (cnt == p.K) {
      if (!better(v, id, tv[cnt - 1u], ti[cnt - 1u])) { continue; }
      cnt -= 1u;
    }
    var pos = cnt;
    while (pos > 0u && better(v, id, tv[pos - 1u], ti[pos - 1u])) {
      tv[pos] = tv[pos - 1u];
      ti[pos] = ti[pos - 1u];
      pos -= 1u;
    }
    tv[pos] = v;
    ti[pos] = id;
    cnt += 1u;
  }
  let o = t * p.K;
  for (var k = 0u; k < p.K; k++) {
    if (k < cnt) { ov[o + k] = tv[k]; oi[o + k] = ti[k]; } else { ov[o + k] = LOWEST; oi[o + k] = NONE; }
  }
}`;
  }
  if (argmax) {
    // K = 1 (greedy) on 'tiled': a strided scan and a tree reduction, no sort.
    return `${head}
var<workgroup> rv: array<f32, ${WG_TILED}>;
var<workgroup> ri: array<u32, ${WG_TILED}>;
@compute @workgroup_size(${WG_TILED})
fn sample_argmax_tiled(@builtin(workgroup_id) g: vec3u, @builtin(num_workgroups) nw: vec3u,
                       @builtin(local_invocation_id) l: vec3u) {
  let t = g.x + g.y * nw.x;
  if (t >= p.B * p.nOut) { return; }
  let r = t / p.nOut;
  let start = (t % p.nOut) * ${CHUNK}u;
  let end = min(start + ${CHUNK}u, p.n);
  var bv = LOWEST;
  var bi = NONE;
  for (var j = start + l.x; j < end; j += ${WG_TILED}u) {
    let v = val(r, j);
    let id = idx(r, j);
    if (better(v, id, bv, bi)) { bv = v; bi = id; }
  }
  rv[l.x] = bv;
  ri[l.x] = bi;
  workgroupBarrier();
  for (var s = ${WG_TILED / 2}u; s > 0u; s >>= 1u) {
    if (l.x < s && better(rv[l.x + s], ri[l.x + s], rv[l.x], ri[l.x])) { rv[l.x] = rv[l.x + s]; ri[l.x] = ri[l.x + s]; }
    workgroupBarrier();
  }
  if (l.x == 0u) { ov[t] = rv[0]; oi[t] = ri[0]; }
}`;
  }
  const per = CHUNK / WG_TILED;
  return `${head}
var<workgroup> sv: array<f32, ${CHUNK}>;
var<workgroup> si: array<u32, ${CHUNK}>;
@compute @workgroup_size(${WG_TILED})
fn ${entry}(@builtin(workgroup_id) g: vec3u, @builtin(num_workgroups) nw: vec3u,
            @builtin(local_invocation_id) l: vec3u) {
  let t = g.x + g.y * nw.x;
  if (t >= p.B * p.nOut) { return; }
  let r = t / p.nOut;
  let start = (t % p.nOut) * ${CHUNK}u;
  for (var e = 0u; e < ${per}u; e++) {
    let k = l.x + e * ${WG_TILED}u;
    let j = start + k;
    if (j < p.n) { sv[k] = val(r, j); si[k] = idx(r, j); } else { sv[k] = LOWEST; si[k] = NONE; }
  }
  workgroupBarrier();
  // Bitonic sort, best first: blocks with (i & size) == 0 put the better element first.
  for (var size = 2u; size <= ${CHUNK}u; size <<= 1u) {
    for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
      for (var e = 0u; e < ${per}u; e++) {
        let i = l.x + e * ${WG_TILED}u;
        let q = i ^ stride;
        if (q > i) {
          let firstBetter = better(sv[i], si[i], sv[q], si[q]);
          if (firstBetter != ((i & size) == 0u)) {
            let tv = sv[i]; sv[i] = sv[q]; sv[q] = tv;
            let tid = si[i]; si[i] = si[q]; si[q] = tid;
          }
        }
      }
      workgroupBarrier();
    }
  }
  let o = t * p.K;
  for (var k = l.x; k < p.K; k += ${WG_TILED}u) { ov[o + k] = sv[k]; oi[o + k] = si[k]; }
}`;
}

// ---- 3. draw among the sorted K -----------------------------------------------------------------

const DRAW = `${COMMON}
struct P { B: u32, K: u32, topP: f32, invT: f32 }
@group(0) @binding(0) var<storage, read> cv: array<f32>;
@group(0) @binding(1) var<storage, read> ci: array<u32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> res: array<u32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG_FLAT})
fn sample_draw(@builtin(global_invocation_id) g: vec3u) {
  let b = g.x;
  if (b >= p.B) { return; }
  let o = b * p.K;
  let v0 = cv[o];
  var z = 0.0;
  var n = 0u;
  for (; n < p.K; n++) {
    if (ci[o + n] == NONE) { break; }
    z += exp((cv[o + n] - v0) * p.invT);
  }
  var kept = 0u;
  var mass = 0.0;
  var keptTotal = 0.0;
  for (; kept < n; kept++) {
    if (kept > 0u && mass >= p.topP) { break; }
    let w = exp((cv[o + kept] - v0) * p.invT);
    mass += w / z;
    keptTotal += w;
  }
  let goal = u[b] * keptTotal;
  var acc = 0.0;
  for (var j = 0u; j < kept; j++) {
    acc += exp((cv[o + j] - v0) * p.invT);
    if (acc > goal) { res[b] = ci[o + j]; return; }
  }
  res[b] = ci[o + kept - 1u];
}`;

// ---- 'full' mode: chunk statistics, then a draw in id order ---------------------------------------

function statsShader(variant: Variant, dtype: DType): string {
  const head = `${wgslTypes({ T: dtype })}${COMMON}
struct P { B: u32, n: u32, nC: u32, invT: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> st: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
fn val(i: u32) -> f32 { return max(f32(x[i]), LOWEST); }
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG_FLAT})
fn sample_stats_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${linearId(WG_FLAT)}
  if (t >= p.B * p.nC) { return; }
  let r = t / p.nC;
  let start = (t % p.nC) * ${CHUNK}u;
  let end = min(start + ${CHUNK}u, p.n);
  var m = LOWEST;
  for (var j = start; j < end; j++) { m = max(m, val(r * p.n + j)); }
  var s = 0.0;
  for (var j = start; j < end; j++) { s += exp((val(r * p.n + j) - m) * p.invT); }
  st[2u * t] = m;
  st[2u * t + 1u] = s;
}`;
  }
  return `${head}
var<workgroup> red: array<f32, ${WG_TILED}>;
@compute @workgroup_size(${WG_TILED})
fn sample_stats_tiled(@builtin(workgroup_id) g: vec3u, @builtin(num_workgroups) nw: vec3u,
                      @builtin(local_invocation_id) l: vec3u) {
  let t = g.x + g.y * nw.x;
  if (t >= p.B * p.nC) { return; }
  let r = t / p.nC;
  let start = (t % p.nC) * ${CHUNK}u;
  let end = min(start + ${CHUNK}u, p.n);
  var m = LOWEST;
  for (var j = start + l.x; j < end; j += ${WG_TILED}u) { m = max(m, val(r * p.n + j)); }
  red[l.x] = m;
  workgroupBarrier();
  for (var s = ${WG_TILED / 2}u; s > 0u; s >>= 1u) {
    if (l.x < s) { red[l.x] = max(red[l.x], red[l.x + s]); }
    workgroupBarrier();
  }
  let cm = red[0];
  workgroupBarrier();
  var acc = 0.0;
  for (var j = start + l.x; j < end; j += ${WG_TILED}u) { acc += exp((val(r * p.n + j) - cm) * p.invT); }
  red[l.x] = acc;
  workgroupBarrier();
  for (var s = ${WG_TILED / 2}u; s > 0u; s >>= 1u) {
    if (l.x < s) { red[l.x] += red[l.x + s]; }
    workgroupBarrier();
  }
  if (l.x == 0u) { st[2u * t] = cm; st[2u * t + 1u] = red[0]; }
}`;
}

function drawFullShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}${COMMON}
struct P { B: u32, n: u32, nC: u32, invT: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> st: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> res: array<u32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG_FLAT})
fn sample_drawfull(@builtin(global_invocation_id) g: vec3u) {
  let b = g.x;
  if (b >= p.B) { return; }
  let s0 = b * p.nC;
  var M = LOWEST;
  for (var c = 0u; c < p.nC; c++) { M = max(M, st[2u * (s0 + c)]); }
  var z = 0.0;
  for (var c = 0u; c < p.nC; c++) { z += st[2u * (s0 + c) + 1u] * exp((st[2u * (s0 + c)] - M) * p.invT); }
  let goal = u[b] * z;
  var acc = 0.0;
  var chunk = 0u;
  for (var c = 0u; c < p.nC; c++) {
    let part = st[2u * (s0 + c) + 1u] * exp((st[2u * (s0 + c)] - M) * p.invT);
    if (part > 0.0) { chunk = c; }
    if (acc + part > goal) { break; }
    acc += part;
  }
  let start = chunk * ${CHUNK}u;
  let end = min(start + ${CHUNK}u, p.n);
  var last = start;
  for (var j = start; j < end; j++) {
    let w = exp((max(f32(x[b * p.n + j]), LOWEST) - M) * p.invT);
    if (w > 0.0) {
      last = j;
      acc += w;
      if (acc > goal) { break; }
    }
  }
  res[b] = last;
}`;
}

// ---- host side ------------------------------------------------------------------------------------

const flatGrid = (threads: number, wg: number) => grid(Math.ceil(threads / wg));

/**
 * Samples one id per row. `prevIds` u32 [B, L] is the history for the repetition penalty (ids ≥ V are
 * ignored, so rows may be padded with 0xffffffff); `uniforms` holds one u ∈ [0, 1) per row from the
 * host PRNG. Returns ids u32 [B].
 */
export function sample(
  ctx: GpuContext,
  logits: Tensor,
  s: GpuSampling,
  prevIds: Tensor | null,
  uniforms: readonly number[],
  variant: Variant = ctx.variant,
): Tensor {
  assertDtype('sample.logits', logits, 'f32', 'f16');
  if (logits.shape.length !== 2) throw new Error(`sample.logits: expected [B, V], got [${logits.shape}]`);
  const [B, V] = logits.shape;
  if (B === 0 || V === 0) throw new Error(`sample: empty logits [${B}, ${V}]`);
  if (uniforms.length !== B) throw new Error(`sample: ${uniforms.length} uniforms for ${B} rows`);
  if (s.mode !== 'full' && !(Number.isInteger(s.k) && s.k >= 1 && s.k <= K_MAX))
    throw new Error(`sample: k ${s.k}`);

  const owned: Tensor[] = [];
  let src = logits;
  if (prevIds) {
    assertDtype('sample.prevIds', prevIds, 'u32');
    assertShape('sample.prevIds', prevIds, [B, undefined]);
  }
  if (prevIds && s.penalty !== 1 && prevIds.shape[1] > 0) {
    src = ctx.empty([B, V], 'f32', 'sample.penalized');
    owned.push(src);
    ctx.dispatch({
      pipeline: ctx.pipeline(
        memoShader(`sample_copy|${logits.dtype}`, () => copyShader(logits.dtype)),
        'sample_copy',
      ),
      bindings: [logits, src],
      uniforms: { u32: [B * V] },
      workgroups: flatGrid(B * V, WG_FLAT),
      label: 'sample_copy',
    });
    const L = prevIds.shape[1];
    ctx.dispatch({
      pipeline: ctx.pipeline(
        memoShader(`sample_penalty|${logits.dtype}`, () => penaltyShader(logits.dtype)),
        'sample_penalty',
      ),
      bindings: [logits, prevIds, src],
      uniforms: { u32: [B, V, L], f32: [1 / s.penalty, s.penalty] },
      workgroups: flatGrid(B * L, WG_FLAT),
      label: 'sample_penalty',
    });
  }

  // Greedy draws nothing: no uniforms to upload.
  const u = s.mode === 'greedy' ? null : ctx.upload(Float32Array.from(uniforms), [B], 'f32');
  if (u) owned.push(u);
  const out =
    s.mode === 'full'
      ? sampleFull(ctx, src, s, u!, variant, owned)
      : sampleTopK(ctx, src, s, u, variant, owned);
  // No flush needed before the scratch returns to the pool: uploads never reuse a buffer released since
  // the last submit (BufferPool.acquire forWrite), so a decode step stays one command buffer.
  ctx.release(...owned);
  return out;
}

function sampleTopK(
  ctx: GpuContext,
  src: Tensor,
  s: GpuSampling,
  u: Tensor | null,
  variant: Variant,
  owned: Tensor[],
): Tensor {
  const [B, V] = src.shape;
  const K = s.mode === 'greedy' ? 1 : s.k;
  let n = V;
  let cand: [Tensor, Tensor] | null = null;
  for (;;) {
    const nOut = Math.ceil(n / CHUNK);
    const ov = ctx.empty([B, nOut * K], 'f32', 'sample.cand.v');
    const oi = ctx.empty([B, nOut * K], 'u32', 'sample.cand.i');
    const argmax = variant === 'tiled' && K === 1;
    const first = cand === null;
    const entry = argmax ? 'sample_argmax_tiled' : `sample_topk_${variant}`;
    ctx.dispatch({
      pipeline: ctx.pipeline(
        memoShader(`sample_topk|${variant}|${first}|${src.dtype}|${argmax}`, () =>
          topkShader(variant, first, src.dtype, argmax),
        ),
        entry,
      ),
      bindings: cand ? [cand[0], cand[1], ov, oi] : [src, ov, oi],
      uniforms: { u32: [B, n, K, nOut] },
      workgroups: variant === 'flat' ? flatGrid(B * nOut, WG_FLAT) : grid(B * nOut),
      label: entry,
    });
    if (cand) owned.push(...cand);
    cand = [ov, oi];
    n = nOut * K;
    if (nOut === 1) break;
  }
  const [cv, ci] = cand;
  if (s.mode === 'greedy' || !u) {
    owned.push(cv);
    return ci.view([B]);
  }
  owned.push(cv, ci);
  const out = ctx.empty([B], 'u32', 'sample.ids');
  ctx.dispatch({
    pipeline: ctx.pipeline(DRAW, 'sample_draw'),
    bindings: [cv, ci, u, out],
    uniforms: { u32: [B, K], f32: [s.topP, s.invTemperature] },
    workgroups: [Math.ceil(B / WG_FLAT)],
    label: 'sample_draw',
  });
  return out;
}

function sampleFull(
  ctx: GpuContext,
  src: Tensor,
  s: GpuSampling,
  u: Tensor,
  variant: Variant,
  owned: Tensor[],
): Tensor {
  const [B, V] = src.shape;
  const nC = Math.ceil(V / CHUNK);
  const st = ctx.empty([B, nC, 2], 'f32', 'sample.stats');
  const entry = `sample_stats_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`sample_stats|${variant}|${src.dtype}`, () => statsShader(variant, src.dtype)),
      entry,
    ),
    bindings: [src, st],
    uniforms: { u32: [B, V, nC], f32: [s.invTemperature] },
    workgroups: variant === 'flat' ? flatGrid(B * nC, WG_FLAT) : grid(B * nC),
    label: entry,
  });
  const out = ctx.empty([B], 'u32', 'sample.ids');
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`sample_drawfull|${src.dtype}`, () => drawFullShader(src.dtype)),
      'sample_drawfull',
    ),
    bindings: [src, st, u, out],
    uniforms: { u32: [B, V, nC], f32: [s.invTemperature] },
    workgroups: [Math.ceil(B / WG_FLAT)],
    label: 'sample_drawfull',
  });
  owned.push(st);
  return out;
}

/** Samples and reads the ids back (the only readback a decode step needs). */
export async function sampleToHost(
  ctx: GpuContext,
  logits: Tensor,
  s: GpuSampling,
  prevIds: Tensor | null,
  uniforms: readonly number[],
  variant: Variant = ctx.variant,
): Promise<Uint32Array> {
  const ids = sample(ctx, logits, s, prevIds, uniforms, variant);
  const host = (await ctx.readU32(ids)).slice(0, ids.size);
  ctx.release(ids);
  return host;
}

// ---- CPU reference --------------------------------------------------------------------------------

const F32_LOWEST = -3.4028234663852886e38;

/** The penalised logit as the GPU computes it (f32, positive × f32(1/p), negative × f32(p)). */
export function penalize(x: number, penalty: number): number {
  return x > 0 ? Math.fround(x * Math.fround(1 / penalty)) : Math.fround(x * Math.fround(penalty));
}

/** Rank order: logit desc, then id asc. */
const ranksBefore = (va: number, ia: number, vb: number, ib: number) => va > vb || (va === vb && ia < ib);

/**
 * CPU reference for one row: plain loops, f64 softmax, same rules as the kernels (the uniform is
 * rounded to f32 as the GPU sees it). prevIds: the history (ids ≥ V ignored).
 */
export function sampleRowCpu(
  logits: ArrayLike<number>,
  s: GpuSampling,
  prevIds: ArrayLike<number> | null,
  u: number,
): number {
  const V = logits.length;
  if (V === 0) throw new Error('sampleRowCpu: empty logits');
  const load = (i: number) => Math.max(Math.fround(logits[i]), F32_LOWEST);
  const x = new Float64Array(V);
  for (let i = 0; i < V; i++) x[i] = load(i);
  if (prevIds && s.penalty !== 1) {
    for (let j = 0; j < prevIds.length; j++) {
      const id = prevIds[j];
      if (id < V) x[id] = Math.max(penalize(load(id), s.penalty), F32_LOWEST);
    }
  }
  const uf = Math.fround(u);

  if (s.mode === 'full') {
    let max = F32_LOWEST;
    for (let i = 0; i < V; i++) max = Math.max(max, x[i]);
    let total = 0;
    for (let i = 0; i < V; i++) total += Math.exp((x[i] - max) * s.invTemperature);
    const goal = uf * total;
    let acc = 0;
    let last = 0;
    for (let i = 0; i < V; i++) {
      const w = Math.exp((x[i] - max) * s.invTemperature);
      if (w <= 0) continue;
      acc += w;
      last = i;
      if (acc > goal) return i;
    }
    return last;
  }

  // Top-k by repeated selection of the best remaining.
  const k = Math.min(s.mode === 'greedy' ? 1 : s.k, V);
  const taken = new Uint8Array(V);
  const ids: number[] = [];
  for (let n = 0; n < k; n++) {
    let best = -1;
    for (let i = 0; i < V; i++) if (!taken[i] && (best < 0 || ranksBefore(x[i], i, x[best], best))) best = i;
    taken[best] = 1;
    ids.push(best);
  }
  if (s.mode === 'greedy') return ids[0];

  const w = ids.map((i) => Math.exp((x[i] - x[ids[0]]) * s.invTemperature));
  const z = w.reduce((a, b) => a + b, 0);
  // Keep ranked candidates while the mass before them is < topP (always the first).
  let kept = 0;
  let mass = 0;
  while (kept < k && (kept === 0 || mass < s.topP)) mass += w[kept++] / z;
  let keptTotal = 0;
  for (let j = 0; j < kept; j++) keptTotal += w[j];
  const goal = uf * keptTotal;
  let acc = 0;
  for (let j = 0; j < kept; j++) {
    acc += w[j];
    if (acc > goal) return ids[j];
  }
  return ids[kept - 1];
}
