import { type GpuContext, grid, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, fmt, type Tensor } from '../tensor';

/**
 * 2-D transpose: x [R, C] (any leading dims folded into R) → y [C, R], same dtype (f32 or f16). One
 * thread per output element, reading x with a stride of C; memory-bound. The matmul backward uses it
 * to run dX = dY·w and dW = dYᵀ·x on the forward's GEMM kernels.
 */
const WG = 64;

function shader(dtype: 'f32' | 'f16'): string {
  return `${wgslTypes({ T: dtype })}
struct P { R: u32, C: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn transpose_forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.R * p.C) { return; }
  let c = i / p.R;
  let r = i % p.R;
  y[i] = x[r * p.C + c];
}`;
}

/** x [..., C] seen as [R, C] → [C, R]. */
export function transpose(ctx: GpuContext, x: Tensor): Tensor {
  assertDtype('transpose.x', x, 'f32', 'f16');
  const C = x.shape[x.shape.length - 1];
  if (!(C > 0)) throw new Error(`transpose.x: empty last dimension in ${fmt(x.shape)}`);
  const R = x.size / C;
  const y = ctx.empty([C, R], x.dtype);
  if (R === 0) return y;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`transpose|${x.dtype}`, () => shader(x.dtype as 'f32' | 'f16')),
      'transpose_forward',
    ),
    bindings: [x, y],
    uniforms: { u32: [R, C] },
    workgroups: grid(Math.ceil(y.size / WG), ctx.maxWorkgroupsPerDim),
    label: 'transpose_forward',
  });
  return y;
}

/** CPU reference: x [R, C] → [C, R]. */
export function transposeCpu(x: Float32Array, R: number, C: number): Float32Array {
  const y = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) y[c * R + r] = x[r * C + c];
  return y;
}
