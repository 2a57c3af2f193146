import { type GpuContext, grid, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, assertShape, type DType, type Tensor } from '../tensor';

/**
 * RMSNorm over the last dimension: y = x / sqrt(mean(x²) + eps) · w, in f32.
 * x [R, C], w [C], y [R, C], each f32 or f16 (y defaults to x's dtype: the decoder reads its f32
 * residual stream and writes f16 activations). One workgroup per row; the 'flat' variant has one
 * thread sum a whole row (no barriers), 'tiled' reduces in shared memory.
 */
const WG = 64;

type Float = 'f32' | 'f16';

function shader(variant: 'flat' | 'tiled', xd: Float, wd: Float, yd: Float): string {
  const head = `${wgslTypes({ X: xd, W: wd, T: yd })}
struct P { R: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<X>;
@group(0) @binding(1) var<storage, read> w: array<W>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: P;
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG})
fn rmsnorm_forward_flat(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  var ss = 0.0;
  for (var c = 0u; c < p.C; c++) { let v = f32(x[base + c]); ss += v * v; }
  let inv = inverseSqrt(ss / f32(p.C) + p.eps);
  for (var c = 0u; c < p.C; c++) { y[base + c] = T(f32(x[base + c]) * inv * f32(w[c])); }
}`;
  }
  return `${head}
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn rmsnorm_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let r = wg.x;
  let base = r * p.C;
  var ss = 0.0;
  for (var c = l.x; c < p.C; c += ${WG}u) { let v = f32(x[base + c]); ss += v * v; }
  part[l.x] = ss;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l.x < s) { part[l.x] += part[l.x + s]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(part[0] / f32(p.C) + p.eps);
  for (var c = l.x; c < p.C; c += ${WG}u) { y[base + c] = T(f32(x[base + c]) * inv * f32(w[c])); }
}`;
}

export function rmsnorm(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  eps: number,
  variant = ctx.variant,
  out: Float = x.dtype as Float,
): Tensor {
  const C = x.shape[x.shape.length - 1];
  const R = x.size / C;
  assertShape('rmsnorm.w', w, [C]);
  assertDtype('rmsnorm.x', x, 'f32', 'f16');
  assertDtype('rmsnorm.w', w, 'f32', 'f16');
  const [xd, wd] = [x.dtype, w.dtype] as Float[];
  const y = ctx.empty(x.shape, out);
  const entry = `rmsnorm_forward_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`rmsnorm|${variant}|${xd}|${wd}|${out}`, () => shader(variant, xd, wd, out)),
      entry,
    ),
    bindings: [x, w, y],
    uniforms: { u32: [R, C], f32: [eps] },
    workgroups: [variant === 'flat' ? Math.ceil(R / WG) : R],
    label: entry,
  });
  return y;
}

// ---- backward -----------------------------------------------------------------------------------

/**
 * With r = 1/sqrt(mean(x²) + eps) per row and g = dY:
 *   dX[c] = r·w[c]·g[c] − x[c]·r³/C · Σ_k g[k]·w[k]·x[k]      dW[c] = Σ_rows g[c]·x[c]·r
 * Two dispatches, no atomics: rmsnorm_backward_{flat,tiled} computes each row's r and dot (one thread
 * per row, or a workgroup per row reducing in shared memory), writes dX and saves r in an f32 [R]
 * scratch; rmsnorm_backward_dw has one thread per column c summing over the rows in order.
 * dX takes dY's dtype (f32 or f16); dW is always f32. Everything accumulates in f32.
 */
function backwardShader(variant: 'flat' | 'tiled', xDtype: DType, gDtype: DType): string {
  const head = `${wgslTypes({ T: xDtype, G: gDtype })}
struct P { R: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> dy: array<G>;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> w: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<G>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

// One row's dX from its sums (Σx², Σ g·w·x); the row's thread 0 saves r.
fn finish(r: u32, sums: vec2f, first: u32, stride: u32) {
  let base = r * p.C;
  let inv = inverseSqrt(sums.x / f32(p.C) + p.eps);
  let k = sums.y * inv * inv * inv / f32(p.C);
  for (var c = first; c < p.C; c += stride) {
    dx[base + c] = G(inv * f32(w[c]) * f32(dy[base + c]) - f32(x[base + c]) * k);
  }
  if (first == 0u) { rstd[r] = inv; }
}

fn partial(base: u32, first: u32, stride: u32) -> vec2f {
  var s = vec2f(0.0);
  for (var c = first; c < p.C; c += stride) {
    let v = f32(x[base + c]);
    s += vec2f(v * v, f32(dy[base + c]) * f32(w[c]) * v);
  }
  return s;
}
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG})
fn rmsnorm_backward_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let r = g.y * n.x * ${WG}u + g.x;
  if (r >= p.R) { return; }
  finish(r, partial(r * p.C, 0u, 1u), 0u, 1u);
}`;
  }
  return `${head}
var<workgroup> part: array<vec2f, ${WG}>;
@compute @workgroup_size(${WG})
fn rmsnorm_backward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) n: vec3u,
                          @builtin(local_invocation_id) l: vec3u) {
  let r = wg.y * n.x + wg.x;
  if (r >= p.R) { return; }
  part[l.x] = partial(r * p.C, l.x, ${WG}u);
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l.x < s) { part[l.x] += part[l.x + s]; }
    workgroupBarrier();
  }
  finish(r, part[0], l.x, ${WG}u);
}`;
}

function dwShader(xDtype: DType, gDtype: DType): string {
  return `${wgslTypes({ T: xDtype, G: gDtype })}
struct P { R: u32, C: u32 }
@group(0) @binding(0) var<storage, read> dy: array<G>;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(${WG})
fn rmsnorm_backward_dw(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let c = g.y * n.x * ${WG}u + g.x;
  if (c >= p.C) { return; }
  var acc = 0.0;
  for (var r = 0u; r < p.R; r++) { acc += f32(dy[r * p.C + c]) * f32(x[r * p.C + c]) * rstd[r]; }
  dw[c] = acc;
}`;
}

/**
 * Gradients of rmsnorm(x, w, eps) for upstream dY [R, C] (f32 or f16): dX [R, C] in dY's dtype,
 * dW [C] f32.
 */
export function rmsnormBackward(
  ctx: GpuContext,
  dY: Tensor,
  x: Tensor,
  w: Tensor,
  eps: number,
  variant = ctx.variant,
): { dX: Tensor; dW: Tensor } {
  const C = x.shape[x.shape.length - 1];
  const R = x.size / C;
  assertShape('rmsnormBackward.dY', dY, x.shape);
  assertDtype('rmsnormBackward.dY', dY, 'f32', 'f16');
  assertShape('rmsnormBackward.w', w, [C]);
  assertDtype('rmsnormBackward.w', w, x.dtype);
  const dX = ctx.empty(x.shape, dY.dtype);
  const dW = ctx.empty([C], 'f32');
  const rstd = ctx.empty([R], 'f32');
  const entry = `rmsnorm_backward_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`rmsnorm_backward|${variant}|${x.dtype}|${dY.dtype}`, () =>
        backwardShader(variant, x.dtype, dY.dtype),
      ),
      entry,
    ),
    bindings: [dY, x, w, dX, rstd],
    uniforms: { u32: [R, C], f32: [eps] },
    workgroups: grid(variant === 'flat' ? Math.ceil(R / WG) : R, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`rmsnorm_backward_dw|${x.dtype}|${dY.dtype}`, () => dwShader(x.dtype, dY.dtype)),
      'rmsnorm_backward_dw',
    ),
    bindings: [dY, x, rstd, dW],
    uniforms: { u32: [R, C] },
    workgroups: grid(Math.ceil(C / WG), ctx.maxWorkgroupsPerDim),
    label: 'rmsnorm_backward_dw',
  });
  ctx.release(rstd);
  return { dX, dW };
}

/** CPU reference: plain loops, f64 accumulation. */
export function rmsnormCpu(x: Float32Array, w: Float32Array, C: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c] ** 2;
    const inv = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * inv * w[c];
  }
  return y;
}

/** CPU reference of rmsnormBackward: plain loops, f64 accumulation. */
export function rmsnormBackwardCpu(
  dY: Float32Array,
  x: Float32Array,
  w: Float32Array,
  C: number,
  eps: number,
): { dX: Float32Array; dW: Float32Array } {
  const dX = new Float32Array(x.length);
  const dW = new Float64Array(C);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    let dot = 0;
    for (let c = 0; c < C; c++) {
      ss += x[r * C + c] ** 2;
      dot += dY[r * C + c] * w[c] * x[r * C + c];
    }
    const inv = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      dX[i] = inv * w[c] * dY[i] - (x[i] * inv ** 3 * dot) / C;
      dW[c] += dY[i] * x[i] * inv;
    }
  }
  return { dX, dW: Float32Array.from(dW) };
}
