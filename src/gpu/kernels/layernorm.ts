import { type GpuContext, grid, type Variant, wgslTypes } from '../context';
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
