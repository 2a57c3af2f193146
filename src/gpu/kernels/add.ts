import { type GpuContext, grid, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, assertShape, BYTES, type Tensor } from '../tensor';

/**
 * Element-wise (residual) add: out = a + b, f32 math, same shape and dtype throughout.
 * `out` may be `a` or `b` (in place): one buffer cannot be bound both writable and read-only in one
 * dispatch, so in place uses its own entry point with the destination bound once, read-write.
 * Elements go four at a time (vec4) when every buffer is padded to a whole vec4, as ctx.empty's are.
 */
const WG = 64;

function shader(dtype: 'f32' | 'f16', vec: boolean, inplace: boolean): string {
  const types = `${wgslTypes({ T: dtype })}alias V = ${vec ? 'vec4<T>' : 'T'};
alias F = ${vec ? 'vec4<f32>' : 'f32'};
struct P { n: u32 }
`;
  const index = `let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.n) { return; }`;
  if (inplace) {
    return `${types}
@group(0) @binding(0) var<storage, read_write> acc: array<V>;
@group(0) @binding(1) var<storage, read> b: array<V>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn add_inplace(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${index}
  acc[i] = V(F(acc[i]) + F(b[i]));
}`;
  }
  return `${types}
@group(0) @binding(0) var<storage, read> a: array<V>;
@group(0) @binding(1) var<storage, read> b: array<V>;
@group(0) @binding(2) var<storage, read_write> y: array<V>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn add_forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${index}
  y[i] = V(F(a[i]) + F(b[i]));
}`;
}

export function add(ctx: GpuContext, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  assertDtype('add.a', a, 'f32', 'f16');
  assertDtype('add.b', b, a.dtype);
  assertShape('add.b', b, a.shape);
  const y = out ?? ctx.empty(a.shape, a.dtype);
  assertDtype('add.out', y, a.dtype);
  assertShape('add.out', y, a.shape);
  const dtype = a.dtype as 'f32' | 'f16';
  const n = a.size;
  const vecBytes = Math.ceil(n / 4) * 4 * BYTES[dtype];
  const vec = [a, b, y].every((t) => t.buffer.size >= vecBytes);
  const count = vec ? Math.ceil(n / 4) : n;

  // In place into a or b (addition commutes): the destination is bound once, read-write.
  const inplace = y.buffer === a.buffer || y.buffer === b.buffer;
  if (inplace && a.buffer === b.buffer) throw new Error('add: in place with a and b the same buffer');
  const other = y.buffer === a.buffer ? b : a;
  const entry = inplace ? 'add_inplace' : 'add_forward';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`add|${dtype}|${vec}|${inplace}`, () => shader(dtype, vec, inplace)),
      entry,
    ),
    bindings: inplace ? [y, other] : [a, b, y],
    uniforms: { u32: [count] },
    workgroups: grid(Math.ceil(count / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return y;
}

const AXPY = (
  yType: 'f32' | 'f16',
  xType: 'f32' | 'f16',
) => `${wgslTypes({ Y: yType, X: xType })}struct P { n: u32, a: f32 }
@group(0) @binding(0) var<storage, read_write> y: array<Y>;
@group(0) @binding(1) var<storage, read> x: array<X>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn axpy_inplace(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.n) { return; }
  y[i] = Y(f32(y[i]) + p.a * f32(x[i]));
}`;

/**
 * y ← y + a·x in place (gradient accumulation, LoRA's scaled update): f32 math, x and y of the same
 * shape in any float dtypes. Returns y.
 */
export function axpy(ctx: GpuContext, y: Tensor, x: Tensor, a: number): Tensor {
  assertDtype('axpy.y', y, 'f32', 'f16');
  assertDtype('axpy.x', x, 'f32', 'f16');
  assertShape('axpy.x', x, y.shape);
  if (x.buffer === y.buffer) throw new Error('axpy: x and y share a buffer');
  const [yt, xt] = [y.dtype, x.dtype] as ('f32' | 'f16')[];
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`axpy|${yt}|${xt}`, () => AXPY(yt, xt)),
      'axpy_inplace',
    ),
    bindings: [y, x],
    uniforms: { u32: [y.size], f32: [a] },
    workgroups: grid(Math.ceil(y.size / WG), ctx.maxWorkgroupsPerDim),
    label: 'axpy_inplace',
  });
  return y;
}

/** CPU reference of axpy: y + a·x in f64, rounded to f32. */
export function axpyCpu(y: Float32Array, x: Float32Array, a: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i] + a * x[i];
  return out;
}

/** CPU reference. */
export function addCpu(a: Float32Array, b: Float32Array): Float32Array {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}
