import { type GpuContext, grid } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, assertShape, type Tensor } from '../tensor';

/**
 * The optimizer's kernels, f32 throughout: AdamW as torch.optim.AdamW steps (decoupled weight
 * decay), and the squared sums behind global gradient-norm clipping.
 *
 * AdamW, per element, for step t ≥ 1 with g = grad · gradScale (the clipping factor):
 *   p ← p · (1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
 */
const WG = 64;
/** Elements each thread of sumSquares adds up (one partial sum per thread). */
export const SQ_CHUNK = 256;

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW's defaults. */
export const ADAMW_DEFAULTS: AdamWHyper = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
};

const ADAMW = `struct P { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, decay: f32, step: f32, bc2: f32, gscale: f32 }
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn adamw_step(@builtin(global_invocation_id) g3: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g3.y * nw.x * ${WG}u + g3.x;
  if (i >= p.n) { return; }
  let g = grad[i] * p.gscale;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let decayed = param[i] * p.decay;
  param[i] = decayed - p.step * mi / (sqrt(vi) / p.bc2 + p.eps);
}`;

/**
 * One AdamW step of `param` (f32) with `grad` (f32, same shape) and the moments `m`, `v` (f32, same
 * shape, zero before step 1), all updated in place. `t` counts steps from 1.
 */
export function adamwStep(
  ctx: GpuContext,
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  h: AdamWHyper,
  t: number,
  gradScale = 1,
): void {
  for (const [name, x] of [
    ['param', param],
    ['grad', grad],
    ['m', m],
    ['v', v],
  ] as const) {
    assertDtype(`adamw.${name}`, x, 'f32');
    assertShape(`adamw.${name}`, x, param.shape);
  }
  if (!(Number.isInteger(t) && t >= 1)) throw new Error(`adamw: step ${t} (counted from 1)`);
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = Math.sqrt(1 - h.beta2 ** t);
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader('adamw_step', () => ADAMW),
      'adamw_step',
    ),
    bindings: [param, grad, m, v],
    uniforms: {
      u32: [param.size],
      f32: [h.lr, h.beta1, h.beta2, h.eps, 1 - h.lr * h.weightDecay, h.lr / bc1, bc2, gradScale],
    },
    workgroups: grid(Math.ceil(param.size / WG), ctx.maxWorkgroupsPerDim),
    label: 'adamw_step',
  });
}

const SUMSQ = `struct P { n: u32, at: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn sum_squares(@builtin(global_invocation_id) g3: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let c = g3.y * nw.x * ${WG}u + g3.x;
  let start = c * ${SQ_CHUNK}u;
  if (start >= p.n) { return; }
  let end = min(start + ${SQ_CHUNK}u, p.n);
  var s = 0.0;
  for (var i = start; i < end; i++) { s += x[i] * x[i]; }
  out[p.at + c] = s;
}`;

/** Partial sums a tensor of n elements needs in sumSquaresInto's output. */
export const sumSquaresParts = (n: number) => Math.ceil(n / SQ_CHUNK);

/**
 * Σ x² of an f32 tensor as partial sums written to `out` [at, at + sumSquaresParts(x.size)): the
 * host adds them up (one readback for every tensor of a model, for global norm clipping).
 */
export function sumSquaresInto(ctx: GpuContext, x: Tensor, out: Tensor, at: number): void {
  assertDtype('sumSquares.x', x, 'f32');
  assertDtype('sumSquares.out', out, 'f32');
  const parts = sumSquaresParts(x.size);
  if (at + parts > out.size) throw new Error(`sumSquares: ${parts} parts at ${at} overflow ${out.size}`);
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader('sum_squares', () => SUMSQ),
      'sum_squares',
    ),
    bindings: [x, out],
    uniforms: { u32: [x.size, at] },
    workgroups: grid(Math.ceil(parts / WG), ctx.maxWorkgroupsPerDim),
    label: 'sum_squares',
  });
}

// ---- CPU references ------------------------------------------------------------------------------

/** torch.optim.AdamW's update, element by element in f64, on copies of the inputs. */
export function adamwStepCpu(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  h: AdamWHyper,
  t: number,
  gradScale = 1,
): { param: Float32Array; m: Float32Array; v: Float32Array } {
  const p2 = new Float32Array(param.length);
  const m2 = new Float32Array(m.length);
  const v2 = new Float32Array(v.length);
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gradScale;
    m2[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v2[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    const p = param[i] * (1 - h.lr * h.weightDecay);
    p2[i] = p - ((h.lr / bc1) * m2[i]) / (Math.sqrt(v2[i]) / Math.sqrt(bc2) + h.eps);
  }
  return { param: p2, m: m2, v: v2 };
}

export function sumSquaresCpu(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}
