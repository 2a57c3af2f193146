import { type GpuContext, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertShape, type Tensor } from '../tensor';

/**
 * RMSNorm over the last dimension: y = x / sqrt(mean(x²) + eps) · w.
 * x [R, C] (activation dtype), w [C] (same dtype) → y [R, C]. One workgroup per row; the 'flat'
 * variant has one thread sum a whole row (no barriers), 'tiled' reduces in shared memory.
 */
const WG = 64;

function shader(variant: 'flat' | 'tiled', dtype: Tensor['dtype']): string {
  const head = `${wgslTypes({ T: dtype })}
struct P { R: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;
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

export function rmsnorm(ctx: GpuContext, x: Tensor, w: Tensor, eps: number, variant = ctx.variant): Tensor {
  const C = x.shape[x.shape.length - 1];
  const R = x.size / C;
  assertShape('rmsnorm.w', w, [C]);
  const y = ctx.empty(x.shape, x.dtype);
  const entry = `rmsnorm_forward_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`rmsnorm|${variant}|${x.dtype}`, () => shader(variant, x.dtype)),
      entry,
    ),
    bindings: [x, w, y],
    uniforms: { u32: [R, C], f32: [eps] },
    workgroups: [variant === 'flat' ? Math.ceil(R / WG) : R],
    label: entry,
  });
  return y;
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
