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

/** CPU reference. */
export function addCpu(a: Float32Array, b: Float32Array): Float32Array {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}
