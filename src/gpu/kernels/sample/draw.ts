import { type GpuContext, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { DType, Tensor } from '../../tensor';
import { CHUNK, COMMON, type GpuSampling, WG_FLAT } from './common';

/**
 * The draw among the top-k: one thread per row applies temperature and top-p to the ranked
 * candidates and inverts the CDF at the host's uniform. The ranked list is the K candidates (value
 * desc, id asc) followed by the E ids tied with the k-th value τ that the passes cut (id order), all
 * of weight w_τ; the thread takes the tied part in closed form and finds the chosen tied id by walking
 * the per-chunk tie counts, then scanning one chunk of the logits.
 */
function drawShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}${COMMON}
struct P { B: u32, K: u32, V: u32, nC: u32, topP: f32, invT: f32 }
@group(0) @binding(0) var<storage, read> cv: array<f32>;
@group(0) @binding(1) var<storage, read> ci: array<u32>;
@group(0) @binding(2) var<storage, read> cnt: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<T>;
@group(0) @binding(4) var<storage, read> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> res: array<u32>;
@group(0) @binding(6) var<uniform> p: P;
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
  // E ids tied with tau past the candidates: all ties in the row less the m among the candidates.
  let tau = cv[o + p.K - 1u];
  var m = 0u;
  var E = 0u;
  if (n == p.K) {
    var all = 0u;
    for (var c = 0u; c < p.nC; c++) { all += cnt[b * p.nC + c]; }
    for (var j = 0u; j < n; j++) { if (cv[o + j] == tau) { m += 1u; } }
    E = all - m;
  }
  let wt = exp((tau - v0) * p.invT);
  z += f32(E) * wt;
  var kept = 0u;
  var mass = 0.0;
  var keptTotal = 0.0;
  for (; kept < n; kept++) {
    if (kept > 0u && mass >= p.topP) { break; }
    let w = exp((cv[o + kept] - v0) * p.invT);
    mass += w / z;
    keptTotal += w;
  }
  // Tied ids are kept while the mass before them is < topP: the first ceil((topP − mass) / q).
  var extra = 0u;
  if (kept == n && E > 0u && mass < p.topP && wt > 0.0) {
    let d = ceil((p.topP - mass) / (wt / z));
    extra = select(E, u32(d), d < f32(E));
    keptTotal += f32(extra) * wt;
  }
  let goal = u[b] * keptTotal;
  var acc = 0.0;
  for (var j = 0u; j < kept; j++) {
    acc += exp((cv[o + j] - v0) * p.invT);
    if (acc > goal) { res[b] = ci[o + j]; return; }
  }
  if (extra == 0u) { res[b] = ci[o + kept - 1u]; return; }
  // The r-th kept tied id is the (m + r)-th id of the row, in id order, whose logit is tau.
  let d = floor(max(goal - acc, 0.0) / wt);
  var want = m + select(extra - 1u, u32(d), d < f32(extra));
  var c = 0u;
  for (; c + 1u < p.nC; c++) {
    let k = cnt[b * p.nC + c];
    if (want < k) { break; }
    want -= k;
  }
  let start = c * ${CHUNK}u;
  let end = min(start + ${CHUNK}u, p.V);
  var last = ci[o + kept - 1u];
  for (var j = start; j < end; j++) {
    if (max(f32(x[b * p.V + j]), LOWEST) == tau) {
      last = j;
      if (want == 0u) { break; }
      want -= 1u;
    }
  }
  res[b] = last;
}`;
}

/**
 * Ids u32 [B] drawn from the ranked candidates cv, ci [B, K], the tie counts cnt [B, nC] and the
 * row src [B, V] they came from, at the uniforms u f32 [B].
 */
export function drawTopK(
  ctx: GpuContext,
  src: Tensor,
  cv: Tensor,
  ci: Tensor,
  cnt: Tensor,
  u: Tensor,
  s: GpuSampling,
): Tensor {
  const [B, V] = src.shape;
  const K = cv.shape[1];
  const out = ctx.empty([B], 'u32', 'sample.ids');
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`sample_draw|${src.dtype}`, () => drawShader(src.dtype)),
      'sample_draw',
    ),
    bindings: [cv, ci, cnt, src, u, out],
    uniforms: { u32: [B, K, V, cnt.shape[1]], f32: [s.topP, s.invTemperature] },
    workgroups: [Math.ceil(B / WG_FLAT)],
    label: 'sample_draw',
  });
  return out;
}

// ---- CPU reference --------------------------------------------------------------------------------

/**
 * The draw over ranked ids (best first) of row x: weights exp((x − x_best)·invT) in f64; top-p keeps
 * ranked ids while the mass before them is < topP (at least one); the first kept id whose cumulative
 * weight exceeds uf·(kept total) wins.
 */
export function drawCpu(x: ArrayLike<number>, ids: number[], s: GpuSampling, uf: number): number {
  const w = ids.map((i) => Math.exp((x[i] - x[ids[0]]) * s.invTemperature));
  const z = w.reduce((a, b) => a + b, 0);
  let kept = 0;
  let mass = 0;
  while (kept < ids.length && (kept === 0 || mass < s.topP)) mass += w[kept++] / z;
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
