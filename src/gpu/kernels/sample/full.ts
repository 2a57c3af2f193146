import { type GpuContext, grid, type Variant, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { DType, Tensor } from '../../tensor';
import { CHUNK, COMMON, F32_LOWEST, flatGrid, type GpuSampling, linearId, WG_FLAT, WG_TILED } from './common';

/**
 * 'full' mode (top-k off, top-p 1) skips the sort: per-chunk max and Σexp, then one thread per row
 * finds the chunk and the id where the cumulative weight passes u·Z, in id order.
 */

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

/** Ids u32 [B] drawn from the whole of src [B, V] in id order at the uniforms u f32 [B]. */
export function sampleFull(
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

// ---- CPU reference --------------------------------------------------------------------------------

/** The full-vocabulary draw of one (penalised) row: f64 softmax, inverse CDF in id order. */
export function drawFullCpu(x: ArrayLike<number>, invTemperature: number, uf: number): number {
  const V = x.length;
  let max = F32_LOWEST;
  for (let i = 0; i < V; i++) max = Math.max(max, x[i]);
  let total = 0;
  for (let i = 0; i < V; i++) total += Math.exp((x[i] - max) * invTemperature);
  const goal = uf * total;
  let acc = 0;
  let last = 0;
  for (let i = 0; i < V; i++) {
    const w = Math.exp((x[i] - max) * invTemperature);
    if (w <= 0) continue;
    acc += w;
    last = i;
    if (acc > goal) return i;
  }
  return last;
}
