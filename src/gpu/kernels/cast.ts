import { type GpuContext, grid, wgslTypes } from '../context';
import { roundToF16 } from '../f16';
import { memoShader } from '../pipeline-cache';
import { assertDtype, type Tensor } from '../tensor';

/**
 * Element-wise dtype conversion: y = Y(x), x and y f32 or f16, same shape. f16 → f32 is exact (the
 * decoder widens its input embeddings into its f32 residual stream); f32 → f16 rounds to nearest,
 * and values past 65504 become ±inf.
 */
const WG = 64;
type Float = 'f32' | 'f16';

function shader(from: Float, to: Float): string {
  return `${wgslTypes({ X: from, Y: to })}struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<X>;
@group(0) @binding(1) var<storage, read_write> y: array<Y>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn cast_forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.n) { return; }
  y[i] = Y(x[i]);
}`;
}

/** x as a new tensor of dtype `to`. */
export function cast(ctx: GpuContext, x: Tensor, to: Float): Tensor {
  assertDtype('cast.x', x, 'f32', 'f16');
  const from = x.dtype as Float;
  if ((from === 'f16' || to === 'f16') && !ctx.summary.f16)
    throw new Error('cast: f16 needs the shader-f16 feature, which this adapter lacks');
  const y = ctx.empty(x.shape, to);
  if (x.size === 0) return y;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`cast|${from}|${to}`, () => shader(from, to)),
      'cast_forward',
    ),
    bindings: [x, y],
    uniforms: { u32: [x.size] },
    workgroups: grid(Math.ceil(x.size / WG), ctx.maxWorkgroupsPerDim),
    label: 'cast_forward',
  });
  return y;
}

/** CPU reference: the values as dtype `to` holds them (f16 rounds to nearest even; past 65504, ±inf). */
export function castCpu(x: Float32Array, to: Float): Float32Array {
  return to === 'f16' ? roundToF16(x) : Float32Array.from(x);
}
