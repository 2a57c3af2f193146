import { type GpuContext, grid, type Variant, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, assertShape, type DType, type Tensor } from '../tensor';

/**
 * LayerNorm over the last dimension, as PyTorch: y = (x − mean) / sqrt(var + eps) · w + b with the
 * biased variance. x [R, C] (activation dtype), w [C], b [C] (f32 or f16, both the same) → y [R, C].
 * 'flat' has one thread per row (no barriers); 'tiled' has one workgroup per row reducing in shared memory.
 *
 * Statistics accumulate in f32 with a shifted, corrected two-pass scheme so a large common offset
 * (e.g. 1000 + x) costs no accuracy: pass 1 sums x − x[0] (small numbers) to get mean0; pass 2 sums
 * d = x − mean0 (exact by Sterbenz for values near the mean) and d², then delta = Σd/C fixes the mean
 * and var = Σd²/C − delta². The output uses (x − mean0) − delta rather than a rounded f32 mean:
 * near 1000 an f32 mean is only good to 3e-5, which would show as 2e-5 error in y.
 */
const WG = 64;

function shader(variant: Variant, xDtype: DType, wDtype: DType): string {
  const head = `${wgslTypes({ T: xDtype, W: wDtype })}
struct P { R: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<W>;
@group(0) @binding(2) var<storage, read> b: array<W>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: P;

fn store(i: u32, c: u32, mean0: f32, delta: f32, rstd: f32) {
  y[i] = T(((f32(x[i]) - mean0) - delta) * rstd * f32(w[c]) + f32(b[c]));
}
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG})
fn layernorm_forward_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let r = g.y * n.x * ${WG}u + g.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  let C = f32(p.C);
  let k = f32(x[base]);
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) { s += f32(x[base + c]) - k; }
  let mean0 = k + s / C;
  var s1 = 0.0;
  var s2 = 0.0;
  for (var c = 0u; c < p.C; c++) { let d = f32(x[base + c]) - mean0; s1 += d; s2 += d * d; }
  let delta = s1 / C;
  let rstd = inverseSqrt(max(s2 / C - delta * delta, 0.0) + p.eps);
  for (var c = 0u; c < p.C; c++) { store(base + c, c, mean0, delta, rstd); }
}`;
  }
  return `${head}
var<workgroup> part1: array<f32, ${WG}>;
var<workgroup> part2: array<vec2f, ${WG}>;
@compute @workgroup_size(${WG})
fn layernorm_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) n: vec3u,
                           @builtin(local_invocation_id) l: vec3u) {
  let r = wg.y * n.x + wg.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  let C = f32(p.C);
  let k = f32(x[base]);
  var s = 0.0;
  for (var c = l.x; c < p.C; c += ${WG}u) { s += f32(x[base + c]) - k; }
  part1[l.x] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l.x < h) { part1[l.x] += part1[l.x + h]; }
    workgroupBarrier();
  }
  let mean0 = k + part1[0] / C;
  var acc = vec2f(0.0);
  for (var c = l.x; c < p.C; c += ${WG}u) { let d = f32(x[base + c]) - mean0; acc += vec2f(d, d * d); }
  part2[l.x] = acc;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l.x < h) { part2[l.x] += part2[l.x + h]; }
    workgroupBarrier();
  }
  let delta = part2[0].x / C;
  let rstd = inverseSqrt(max(part2[0].y / C - delta * delta, 0.0) + p.eps);
  for (var c = l.x; c < p.C; c += ${WG}u) { store(base + c, c, mean0, delta, rstd); }
}`;
}

export function layernorm(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  eps: number,
  variant = ctx.variant,
): Tensor {
  const C = x.shape[x.shape.length - 1];
  const R = x.size / C;
  assertDtype('layernorm.x', x, 'f32', 'f16');
  assertShape('layernorm.w', w, [C]);
  assertShape('layernorm.b', b, [C]);
  assertDtype('layernorm.w', w, 'f32', 'f16');
  assertDtype('layernorm.b', b, w.dtype);
  const y = ctx.empty(x.shape, x.dtype);
  const entry = `layernorm_forward_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(shader(variant, x.dtype, w.dtype), entry),
    bindings: [x, w, b, y],
    uniforms: { u32: [R, C], f32: [eps] },
    workgroups: grid(variant === 'flat' ? Math.ceil(R / WG) : R, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return y;
}

// ---- backward -----------------------------------------------------------------------------------

/**
 * With x̂ = (x − mean)·rstd per row, g = dY and ĝ = g·w:
 *   dX = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))      dW[c] = Σ_rows g[c]·x̂[c]      dB[c] = Σ_rows g[c]
 * Two dispatches, no atomics. layernorm_backward_{flat,tiled} redoes the forward's statistics (the same
 * shifted, corrected two-pass, so x̂ matches the forward's), sums ĝ and ĝ·x̂, writes dX and saves
 * (mean0, delta, rstd) per row in an f32 [R, 3] scratch; layernorm_backward_dwdb has one thread per
 * column summing over rows in order. dX takes dY's dtype; dW and dB are f32.
 */
function backwardShader(variant: Variant, xDtype: DType, wDtype: DType, gDtype: DType): string {
  const head = `${wgslTypes({ T: xDtype, W: wDtype, G: gDtype })}
struct P { R: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> dy: array<G>;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> w: array<W>;
@group(0) @binding(3) var<storage, read_write> dx: array<G>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

// Partial sums over c = first, first + stride, … of one row (base = r·C).
fn sum_shift(base: u32, first: u32, stride: u32, k: f32) -> vec2f {
  var s = 0.0;
  for (var c = first; c < p.C; c += stride) { s += f32(x[base + c]) - k; }
  return vec2f(s, 0.0);
}
fn sum_dev(base: u32, first: u32, stride: u32, mean0: f32) -> vec2f {
  var s = vec2f(0.0);
  for (var c = first; c < p.C; c += stride) { let d = f32(x[base + c]) - mean0; s += vec2f(d, d * d); }
  return s;
}
// (Σ ĝ, Σ ĝ·x̂) with st = (mean0, delta, rstd).
fn sum_grad(base: u32, first: u32, stride: u32, st: vec3f) -> vec2f {
  var s = vec2f(0.0);
  for (var c = first; c < p.C; c += stride) {
    let xh = ((f32(x[base + c]) - st.x) - st.y) * st.z;
    let gw = f32(dy[base + c]) * f32(w[c]);
    s += vec2f(gw, gw * xh);
  }
  return s;
}
fn write_dx(base: u32, first: u32, stride: u32, st: vec3f, sums: vec2f) {
  let a = sums.x / f32(p.C);
  let b = sums.y / f32(p.C);
  for (var c = first; c < p.C; c += stride) {
    let xh = ((f32(x[base + c]) - st.x) - st.y) * st.z;
    dx[base + c] = G(st.z * (f32(dy[base + c]) * f32(w[c]) - a - xh * b));
  }
}
fn stats_of(mean0: f32, dev: vec2f) -> vec3f {
  let delta = dev.x / f32(p.C);
  return vec3f(mean0, delta, inverseSqrt(max(dev.y / f32(p.C) - delta * delta, 0.0) + p.eps));
}
fn save(r: u32, st: vec3f) { stats[3u * r] = st.x; stats[3u * r + 1u] = st.y; stats[3u * r + 2u] = st.z; }
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG})
fn layernorm_backward_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let r = g.y * n.x * ${WG}u + g.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  let k = f32(x[base]);
  let mean0 = k + sum_shift(base, 0u, 1u, k).x / f32(p.C);
  let st = stats_of(mean0, sum_dev(base, 0u, 1u, mean0));
  write_dx(base, 0u, 1u, st, sum_grad(base, 0u, 1u, st));
  save(r, st);
}`;
  }
  return `${head}
var<workgroup> part: array<vec2f, ${WG}>;

// Sum of v over the workgroup; every thread returns the total.
fn reduce(l: u32, v: vec2f) -> vec2f {
  part[l] = v;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l < h) { part[l] += part[l + h]; }
    workgroupBarrier();
  }
  let out = part[0];
  workgroupBarrier(); // part[] is reused by the next reduction
  return out;
}

@compute @workgroup_size(${WG})
fn layernorm_backward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) n: vec3u,
                            @builtin(local_invocation_id) l: vec3u) {
  let r = wg.y * n.x + wg.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  let k = f32(x[base]);
  let mean0 = k + reduce(l.x, sum_shift(base, l.x, ${WG}u, k)).x / f32(p.C);
  let st = stats_of(mean0, reduce(l.x, sum_dev(base, l.x, ${WG}u, mean0)));
  write_dx(base, l.x, ${WG}u, st, reduce(l.x, sum_grad(base, l.x, ${WG}u, st)));
  if (l.x == 0u) { save(r, st); }
}`;
}

function dwdbShader(xDtype: DType, gDtype: DType): string {
  return `${wgslTypes({ T: xDtype, G: gDtype })}
struct P { R: u32, C: u32 }
@group(0) @binding(0) var<storage, read> dy: array<G>;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

@compute @workgroup_size(${WG})
fn layernorm_backward_dwdb(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let c = g.y * n.x * ${WG}u + g.x;
  if (c >= p.C) { return; }
  var aw = 0.0;
  var ab = 0.0;
  for (var r = 0u; r < p.R; r++) {
    let gv = f32(dy[r * p.C + c]);
    let xh = ((f32(x[r * p.C + c]) - stats[3u * r]) - stats[3u * r + 1u]) * stats[3u * r + 2u];
    aw += gv * xh;
    ab += gv;
  }
  dw[c] = aw;
  db[c] = ab;
}`;
}

/**
 * Gradients of layernorm(x, w, b, eps) for upstream dY [R, C] (f32 or f16): dX [R, C] in dY's dtype,
 * dW and dB [C] f32 (b itself is not needed).
 */
export function layernormBackward(
  ctx: GpuContext,
  dY: Tensor,
  x: Tensor,
  w: Tensor,
  eps: number,
  variant = ctx.variant,
): { dX: Tensor; dW: Tensor; dB: Tensor } {
  const C = x.shape[x.shape.length - 1];
  const R = x.size / C;
  assertDtype('layernormBackward.x', x, 'f32', 'f16');
  assertShape('layernormBackward.dY', dY, x.shape);
  assertDtype('layernormBackward.dY', dY, 'f32', 'f16');
  assertShape('layernormBackward.w', w, [C]);
  assertDtype('layernormBackward.w', w, 'f32', 'f16');
  const dX = ctx.empty(x.shape, dY.dtype);
  const dW = ctx.empty([C], 'f32');
  const dB = ctx.empty([C], 'f32');
  const stats = ctx.empty([R, 3], 'f32');
  const entry = `layernorm_backward_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`layernorm_backward|${variant}|${x.dtype}|${w.dtype}|${dY.dtype}`, () =>
        backwardShader(variant, x.dtype, w.dtype, dY.dtype),
      ),
      entry,
    ),
    bindings: [dY, x, w, dX, stats],
    uniforms: { u32: [R, C], f32: [eps] },
    workgroups: grid(variant === 'flat' ? Math.ceil(R / WG) : R, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`layernorm_backward_dwdb|${x.dtype}|${dY.dtype}`, () => dwdbShader(x.dtype, dY.dtype)),
      'layernorm_backward_dwdb',
    ),
    bindings: [dY, x, stats, dW, dB],
    uniforms: { u32: [R, C] },
    workgroups: grid(Math.ceil(C / WG), ctx.maxWorkgroupsPerDim),
    label: 'layernorm_backward_dwdb',
  });
  ctx.release(stats);
  return { dX, dW, dB };
}

/** CPU reference: plain loops in f64, two-pass mean then biased variance. */
export function layernormCpu(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  C: number,
  eps: number,
): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x[r * C + c];
    const mean = sum / C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += (x[r * C + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - mean) * rstd * w[c] + b[c];
  }
  return y;
}

/** CPU reference of layernormBackward: plain loops in f64. */
export function layernormBackwardCpu(
  dY: Float32Array,
  x: Float32Array,
  w: Float32Array,
  C: number,
  eps: number,
): { dX: Float32Array; dW: Float32Array; dB: Float32Array } {
  const dX = new Float32Array(x.length);
  const dW = new Float64Array(C);
  const dB = new Float64Array(C);
  const xh = new Float64Array(C);
  for (let r = 0; r < x.length / C; r++) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x[r * C + c];
    const mean = sum / C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += (x[r * C + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(ss / C + eps);
    let a = 0;
    let b = 0;
    for (let c = 0; c < C; c++) {
      xh[c] = (x[r * C + c] - mean) * rstd;
      const gw = dY[r * C + c] * w[c];
      a += gw / C;
      b += (gw * xh[c]) / C;
      dW[c] += dY[r * C + c] * xh[c];
      dB[c] += dY[r * C + c];
    }
    for (let c = 0; c < C; c++) dX[r * C + c] = rstd * (dY[r * C + c] * w[c] - a - xh[c] * b);
  }
  return { dX, dW: Float32Array.from(dW), dB: Float32Array.from(dB) };
}
