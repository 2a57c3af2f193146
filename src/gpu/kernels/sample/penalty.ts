import { type GpuContext, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { DType, Tensor } from '../../tensor';
import { COMMON, F32_LOWEST, flatGrid, linearId, WG_FLAT } from './common';

/**
 * Repetition penalty: w = f32 copy of the logits [B, V], then every history id's logit is penalised
 * (positive × 1/p, negative × p); duplicates in the history write the same value.
 */

function copyShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}${COMMON}
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG_FLAT})
fn sample_copy(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${linearId(WG_FLAT)}
  if (t >= p.n) { return; }
  w[t] = max(f32(x[t]), LOWEST);
}`;
}

function penaltyShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}${COMMON}
struct P { B: u32, V: u32, L: u32, invp: f32, pen: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> prev: array<u32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG_FLAT})
fn sample_penalty(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${linearId(WG_FLAT)}
  if (t >= p.B * p.L) { return; }
  let id = prev[t];
  if (id >= p.V) { return; }
  let i = (t / p.L) * p.V + id;
  let v = max(f32(x[i]), LOWEST);
  w[i] = max(select(v * p.pen, v * p.invp, v > 0.0), LOWEST);
}`;
}

/** The penalised logits, f32 [B, V] (the caller releases them); prevIds u32 [B, L], ids ≥ V ignored. */
export function penalizeLogits(ctx: GpuContext, logits: Tensor, prevIds: Tensor, penalty: number): Tensor {
  const [B, V] = logits.shape;
  const L = prevIds.shape[1];
  const w = ctx.empty([B, V], 'f32', 'sample.penalized');
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`sample_copy|${logits.dtype}`, () => copyShader(logits.dtype)),
      'sample_copy',
    ),
    bindings: [logits, w],
    uniforms: { u32: [B * V] },
    workgroups: flatGrid(B * V, WG_FLAT),
    label: 'sample_copy',
  });
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`sample_penalty|${logits.dtype}`, () => penaltyShader(logits.dtype)),
      'sample_penalty',
    ),
    bindings: [logits, prevIds, w],
    uniforms: { u32: [B, V, L], f32: [1 / penalty, penalty] },
    workgroups: flatGrid(B * L, WG_FLAT),
    label: 'sample_penalty',
  });
  return w;
}

// ---- CPU reference --------------------------------------------------------------------------------

/** The penalised logit as the GPU computes it (f32, positive × f32(1/p), negative × f32(p)). */
export function penalize(x: number, penalty: number): number {
  return x > 0 ? Math.fround(x * Math.fround(1 / penalty)) : Math.fround(x * Math.fround(penalty));
}

/** One row as the sampler sees it: f32, −∞ raised to −FLT_MAX, history ids penalised (ids ≥ V ignored). */
export function penalizeRowCpu(
  logits: ArrayLike<number>,
  penalty: number,
  prevIds: ArrayLike<number> | null,
): Float64Array {
  const V = logits.length;
  const load = (i: number) => Math.max(Math.fround(logits[i]), F32_LOWEST);
  const x = new Float64Array(V);
  for (let i = 0; i < V; i++) x[i] = load(i);
  if (prevIds && penalty !== 1) {
    for (let j = 0; j < prevIds.length; j++) {
      const id = prevIds[j];
      if (id < V) x[id] = Math.max(penalize(load(id), penalty), F32_LOWEST);
    }
  }
  return x;
}
