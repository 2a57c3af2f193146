import { type GpuContext, grid, type Variant, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { DType, Tensor } from '../../tensor';
import { CHUNK, COMMON, flatGrid, linearId, ranksBefore, SAMPLE_K_MAX, WG_FLAT, WG_TILED } from './common';

/**
 * Top-k in passes: each chunk of CHUNK inputs yields its best K (value desc, id asc, padded with
 * (LOWEST, NONE)); the [B, chunks·K] candidates are cut again until one chunk is left. 'flat' keeps a
 * sorted list per thread (no barriers); 'tiled' bitonic-sorts a chunk in shared memory, or for K = 1
 * (greedy) reduces an argmax in shared memory.
 */

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
  var tv: array<f32, ${SAMPLE_K_MAX}>;
  var ti: array<u32, ${SAMPLE_K_MAX}>;
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

/**
 * The best K of each row of src [B, V] (f32 or f16): values f32 [B, K] and ids u32 [B, K], best
 * first, padded with (LOWEST, NONE) when V < K. Intermediate candidates go to `owned`.
 */
export function topKPasses(
  ctx: GpuContext,
  src: Tensor,
  K: number,
  variant: Variant,
  owned: Tensor[],
): [Tensor, Tensor] {
  const [B, V] = src.shape;
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
    if (nOut === 1) return cand;
  }
}

// ---- CPU reference --------------------------------------------------------------------------------

/** The best min(k, V) ids of one row, best first (value desc, id asc), by repeated selection. */
export function topKCpu(x: ArrayLike<number>, k: number): number[] {
  const V = x.length;
  const taken = new Uint8Array(V);
  const ids: number[] = [];
  for (let n = 0; n < Math.min(k, V); n++) {
    let best = -1;
    for (let i = 0; i < V; i++) if (!taken[i] && (best < 0 || ranksBefore(x[i], i, x[best], best))) best = i;
    taken[best] = 1;
    ids.push(best);
  }
  return ids;
}
