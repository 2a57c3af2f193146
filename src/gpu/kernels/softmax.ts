import { type GpuContext, grid, wgslTypes } from '../context';
import { assertDtype, type Tensor } from '../tensor';

/**
 * Softmax over the last dimension, f32 math: x [R, C] → y [R, C] in x's dtype.
 * One pass keeps a running max m and a sum s of exp(x − m), rescaled when m grows (online softmax), so
 * the row is read twice, not three times; every exponent is ≤ 0, so nothing overflows. Large negative
 * entries (masks such as -3.4e38 in f32, -65504 in f16) contribute exactly 0.
 * 'flat': one thread per row, no barriers. 'tiled': one workgroup per row, (m, s) pairs merged in
 * shared memory.
 */
const WG = 64;
const LOWEST = '-3.4028234663852886e38';

function shader(variant: 'flat' | 'tiled', dtype: 'f32' | 'f16'): string {
  const head = `${wgslTypes({ T: dtype })}
struct P { R: u32, C: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: P;

// Folds v into (m, s) with one exp: whichever of v and m is smaller is scaled by exp(−|v − m|).
fn push(ms: vec2<f32>, v: f32) -> vec2<f32> {
  let e = exp(-abs(v - ms.x));
  return vec2<f32>(max(ms.x, v), select(ms.y + e, ms.y * e + 1.0, v > ms.x));
}
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG})
fn softmax_forward_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = g.y * nw.x * ${WG}u + g.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  var ms = vec2<f32>(${LOWEST}, 0.0);
  for (var c = 0u; c < p.C; c++) { ms = push(ms, f32(x[base + c])); }
  let inv = 1.0 / ms.y;
  for (var c = 0u; c < p.C; c++) { y[base + c] = T(exp(f32(x[base + c]) - ms.x) * inv); }
}`;
  }
  return `${head}
var<workgroup> part: array<vec2<f32>, ${WG}>;

fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

@compute @workgroup_size(${WG})
fn softmax_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u,
                         @builtin(local_invocation_id) l: vec3u) {
  let r = wg.y * nw.x + wg.x;
  if (r >= p.R) { return; }
  let base = r * p.C;
  var ms = vec2<f32>(${LOWEST}, 0.0);
  for (var c = l.x; c < p.C; c += ${WG}u) { ms = push(ms, f32(x[base + c])); }
  part[l.x] = ms;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l.x < s) { part[l.x] = merge(part[l.x], part[l.x + s]); }
    workgroupBarrier();
  }
  let m = part[0].x;
  let inv = 1.0 / part[0].y;
  for (var c = l.x; c < p.C; c += ${WG}u) { y[base + c] = T(exp(f32(x[base + c]) - m) * inv); }
}`;
}

export function softmax(ctx: GpuContext, x: Tensor, variant = ctx.variant): Tensor {
  assertDtype('softmax.x', x, 'f32', 'f16');
  const C = x.shape[x.shape.length - 1];
  const R = C > 0 ? x.size / C : 0;
  const y = ctx.empty(x.shape, x.dtype);
  const entry = `softmax_forward_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(shader(variant, x.dtype as 'f32' | 'f16'), entry),
    bindings: [x, y],
    uniforms: { u32: [R, C] },
    workgroups: grid(variant === 'flat' ? Math.ceil(R / WG) : R, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return y;
}

/** CPU reference: plain loops in f64, max subtracted first. */
export function softmaxCpu(x: Float32Array, C: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[r * C + c] - m);
    for (let c = 0; c < C; c++) y[r * C + c] = Math.exp(x[r * C + c] - m) / s;
  }
  return y;
}
