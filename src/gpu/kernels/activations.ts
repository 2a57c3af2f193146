import { type GpuContext, grid, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, assertShape, type DType, type Tensor } from '../tensor';

/**
 * Element-wise activations, one thread per element, computed in f32 whatever the storage dtype:
 * - siluMul(gate, up) = silu(gate)·up, the SwiGLU of Qwen2's MLP;
 * - siluMulHalves(gu) = silu(gu[..., :I])·gu[..., I:] for gu [..., 2I]: the same on a fused gate·up output;
 * - gelu(x, 'tanh') = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), SigLIP's gelu_pytorch_tanh;
 * - gelu(x, 'erf') = 0.5·x·(1 + erf(x/√2)), the exact GELU of the connector.
 * No variants: there is nothing to share between threads.
 *
 * Overflow: exp() arguments are clamped to ±88 (e^88 < f32 max), so no inf or NaN can appear for
 * any finite x (WGSL leaves results that would be inf/NaN indeterminate). tanh is never called:
 * 0.5·(1 + tanh(u)) = 1 / (1 + e^(−2u)), which also avoids the cancellation of 1 + tanh(u) for
 * negative x.
 *
 * erf: WGSL has none. We use Abramowitz & Stegun 7.1.26, which writes erfc(z) = t·P(t)·e^(−z²) with
 * t = 1/(1 + 0.3275911·z) for z ≥ 0, |error in erf| ≤ 1.5e-7. Using it as erfc for |x| directly
 * (rather than 1 − erf) keeps the tail accurate, so |Δgelu| ≤ 0.5·|x|·1.5e-7 plus f32 rounding.
 */
const WG = 256;

const PRELUDE = `
// Clamped so e^a stays finite: e^88 ≈ 1.65e38.
fn safe_exp(a: f32) -> f32 { return exp(clamp(a, -88.0, 88.0)); }
`;

const BODIES = {
  silu_mul: {
    inputs: ['gate', 'up'],
    expr: 'let g = f32(gate[i]); let v = g / (1.0 + safe_exp(-g)) * f32(up[i]);',
    extra: '',
  },
  gelu_tanh: {
    inputs: ['x'],
    // x·sigmoid(2u) with u = √(2/π)(x + 0.044715x³); x³ is clamped through safe_exp's clamp.
    expr: 'let a = f32(x[i]); let u = 0.7978845608028654 * (a + 0.044715 * a * a * a); let v = a / (1.0 + safe_exp(-2.0 * u));',
    extra: '',
  },
  gelu_erf: {
    inputs: ['x'],
    expr: 'let a = f32(x[i]); let q = 0.5 * erfc_pos(abs(a) * 0.7071067811865476); let v = a * select(q, 1.0 - q, a >= 0.0);',
    extra: `
// erfc(z) for z ≥ 0, Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7).
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return poly * safe_exp(-z * z);
}
`,
  },
} as const;

type Op = keyof typeof BODIES;

/** silu_mul_halves: gu [R, 2I] → y [R, I]; one thread per output element. */
function halvesShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}
struct P { n: u32, I: u32 }
@group(0) @binding(0) var<storage, read> gu: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: P;
${PRELUDE}
@compute @workgroup_size(${WG})
fn silu_mul_halves_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.y * nw.x * ${WG}u + gid.x;
  if (i >= p.n) { return; }
  let j = (i / p.I) * 2u * p.I + i % p.I;
  let g = f32(gu[j]);
  y[i] = T(g / (1.0 + safe_exp(-g)) * f32(gu[j + p.I]));
}`;
}

function shader(op: Op, dtype: DType): string {
  const { inputs, expr, extra } = BODIES[op];
  const bindings = inputs.map((name, k) => `@group(0) @binding(${k}) var<storage, read> ${name}: array<T>;`);
  const n = inputs.length;
  return `${wgslTypes({ T: dtype })}
struct P { n: u32 }
${bindings.join('\n')}
@group(0) @binding(${n}) var<storage, read_write> y: array<T>;
@group(0) @binding(${n + 1}) var<uniform> p: P;
${PRELUDE}${extra}
@compute @workgroup_size(${WG})
fn ${op}_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.y * nw.x * ${WG}u + gid.x;
  if (i >= p.n) { return; }
  ${expr}
  y[i] = T(v);
}`;
}

function run(ctx: GpuContext, op: Op, inputs: Tensor[]): Tensor {
  const x = inputs[0];
  const y = ctx.empty(x.shape, x.dtype);
  const entry = `${op}_forward`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`activation|${op}|${x.dtype}`, () => shader(op, x.dtype)),
      entry,
    ),
    bindings: [...inputs, y],
    uniforms: { u32: [x.size] },
    workgroups: grid(Math.ceil(x.size / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return y;
}

/** silu(gate)·up element-wise; gate and up share shape and dtype. */
export function siluMul(ctx: GpuContext, gate: Tensor, up: Tensor): Tensor {
  assertDtype('siluMul.gate', gate, 'f32', 'f16');
  assertShape('siluMul.up', up, gate.shape);
  assertDtype('siluMul.up', up, gate.dtype);
  return run(ctx, 'silu_mul', [gate, up]);
}

/** silu(gu[..., :I])·gu[..., I:] for gu [..., 2I] (gate and up projections side by side) → [..., I]. */
export function siluMulHalves(ctx: GpuContext, gu: Tensor): Tensor {
  assertDtype('siluMulHalves.gu', gu, 'f32', 'f16');
  const C = gu.shape[gu.shape.length - 1];
  if (!(C > 0 && C % 2 === 0)) throw new Error(`siluMulHalves: last dim must be even, got ${C}`);
  const I = C / 2;
  const y = ctx.empty([...gu.shape.slice(0, -1), I], gu.dtype);
  const entry = 'silu_mul_halves_forward';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`silu_mul_halves|${gu.dtype}`, () => halvesShader(gu.dtype)),
      entry,
    ),
    bindings: [gu, y],
    uniforms: { u32: [y.size, I] },
    workgroups: grid(Math.ceil(y.size / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return y;
}

/** GELU element-wise: 'tanh' is gelu_pytorch_tanh (SigLIP), 'erf' the exact form (connector). */
export function gelu(ctx: GpuContext, x: Tensor, approx: 'tanh' | 'erf'): Tensor {
  assertDtype('gelu.x', x, 'f32', 'f16');
  return run(ctx, approx === 'tanh' ? 'gelu_tanh' : 'gelu_erf', [x]);
}

// ---- backward ------------------------------------------------------------------------------------

/**
 * Gradients, one thread per element, f32 math; each gradient takes dY's dtype (f32 or f16) whatever the
 * inputs' dtype. With s = sigmoid:
 * - silu_mul: y = g·s(g)·u → dGate = dY·u·s(g)·(1 + g·(1 − s(g))), dUp = dY·g·s(g);
 * - gelu_tanh: y = x·s(2v), v = √(2/π)(x + 0.044715x³) →
 *   dX = dY·(s(2v) + 2x·s(2v)(1 − s(2v))·√(2/π)(1 + 3·0.044715x²));
 * - gelu_erf: y = x·Φ(x) → dX = dY·(Φ(x) + x·φ(x)), Φ through the same erfc polynomial as the forward.
 * Every exp goes through safe_exp, so large |x| give s ∈ {0, 1} and finite gradients.
 */
const BACKWARD = {
  silu_mul: {
    inputs: ['gate', 'up'],
    outputs: ['dgate', 'dup'],
    body: `let g = f32(gate[i]); let s = 1.0 / (1.0 + safe_exp(-g)); let d = f32(dy[i]);
  dgate[i] = G(d * f32(up[i]) * (s + g * s * (1.0 - s)));
  dup[i] = G(d * g * s);`,
    extra: '',
  },
  gelu_tanh: {
    inputs: ['x'],
    outputs: ['dx'],
    body: `let a = f32(x[i]); let u = 0.7978845608028654 * (a + 0.044715 * a * a * a);
  let s = 1.0 / (1.0 + safe_exp(-2.0 * u));
  let du = 0.7978845608028654 * (1.0 + 0.134145 * a * a);
  dx[i] = G(f32(dy[i]) * (s + 2.0 * a * s * (1.0 - s) * du));`,
    extra: '',
  },
  gelu_erf: {
    inputs: ['x'],
    outputs: ['dx'],
    body: `let a = f32(x[i]); let q = 0.5 * erfc_pos(abs(a) * 0.7071067811865476);
  let cdf = select(q, 1.0 - q, a >= 0.0);
  let pdf = 0.3989422804014327 * safe_exp(-0.5 * a * a);
  dx[i] = G(f32(dy[i]) * (cdf + a * pdf));`,
    extra: BODIES.gelu_erf.extra,
  },
} as const;

function backwardShader(op: Op, xDtype: DType, gDtype: DType): string {
  const { inputs, outputs, body, extra } = BACKWARD[op];
  const names = ['dy', ...inputs];
  const bindings = [
    ...names.map(
      (name, k) => `@group(0) @binding(${k}) var<storage, read> ${name}: array<${k ? 'T' : 'G'}>;`,
    ),
    ...outputs.map(
      (name, k) => `@group(0) @binding(${names.length + k}) var<storage, read_write> ${name}: array<G>;`,
    ),
  ];
  return `${wgslTypes({ T: xDtype, G: gDtype })}
struct P { n: u32 }
${bindings.join('\n')}
@group(0) @binding(${bindings.length}) var<uniform> p: P;
${PRELUDE}${extra}
@compute @workgroup_size(${WG})
fn ${op}_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.y * nw.x * ${WG}u + gid.x;
  if (i >= p.n) { return; }
  ${body}
}`;
}

function runBackward(ctx: GpuContext, op: Op, dY: Tensor, inputs: Tensor[]): Tensor[] {
  const x = inputs[0];
  assertShape(`${op}_backward.dY`, dY, x.shape);
  assertDtype(`${op}_backward.dY`, dY, 'f32', 'f16');
  const grads = BACKWARD[op].outputs.map(() => ctx.empty(x.shape, dY.dtype));
  const entry = `${op}_backward`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`activation_backward|${op}|${x.dtype}|${dY.dtype}`, () =>
        backwardShader(op, x.dtype, dY.dtype),
      ),
      entry,
    ),
    bindings: [dY, ...inputs, ...grads],
    uniforms: { u32: [x.size] },
    workgroups: grid(Math.ceil(x.size / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return grads;
}

/** Gradients of siluMul(gate, up) for upstream dY: dGate and dUp in dY's dtype. */
export function siluMulBackward(
  ctx: GpuContext,
  dY: Tensor,
  gate: Tensor,
  up: Tensor,
): { dGate: Tensor; dUp: Tensor } {
  assertDtype('siluMulBackward.gate', gate, 'f32', 'f16');
  assertShape('siluMulBackward.up', up, gate.shape);
  assertDtype('siluMulBackward.up', up, gate.dtype);
  const [dGate, dUp] = runBackward(ctx, 'silu_mul', dY, [gate, up]);
  return { dGate, dUp };
}

/** Gradient of siluMulHalves(gu) for upstream dY [..., I]: dGU [..., 2I] (gate half, up half) in dY's dtype. */
export function siluMulHalvesBackward(ctx: GpuContext, dY: Tensor, gu: Tensor): Tensor {
  assertDtype('siluMulHalvesBackward.gu', gu, 'f32', 'f16');
  assertDtype('siluMulHalvesBackward.dY', dY, 'f32', 'f16');
  const C = gu.shape[gu.shape.length - 1];
  if (!(C > 0 && C % 2 === 0)) throw new Error(`siluMulHalvesBackward: last dim must be even, got ${C}`);
  const I = C / 2;
  assertShape('siluMulHalvesBackward.dY', dY, [...gu.shape.slice(0, -1), I]);
  const dGU = ctx.empty(gu.shape, dY.dtype);
  const entry = 'silu_mul_halves_backward';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`silu_mul_halves_backward|${gu.dtype}|${dY.dtype}`, () =>
        halvesBackwardShader(gu.dtype, dY.dtype),
      ),
      entry,
    ),
    bindings: [dY, gu, dGU],
    uniforms: { u32: [dY.size, I] },
    workgroups: grid(Math.ceil(dY.size / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return dGU;
}

/** silu_mul_halves_backward: one thread per element of dY [R, I], writing both halves of dgu [R, 2I]. */
function halvesBackwardShader(xDtype: DType, gDtype: DType): string {
  return `${wgslTypes({ T: xDtype, G: gDtype })}
struct P { n: u32, I: u32 }
@group(0) @binding(0) var<storage, read> dy: array<G>;
@group(0) @binding(1) var<storage, read> gu: array<T>;
@group(0) @binding(2) var<storage, read_write> dgu: array<G>;
@group(0) @binding(3) var<uniform> p: P;
${PRELUDE}
@compute @workgroup_size(${WG})
fn silu_mul_halves_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.y * nw.x * ${WG}u + gid.x;
  if (i >= p.n) { return; }
  let j = (i / p.I) * 2u * p.I + i % p.I;
  let g = f32(gu[j]);
  let s = 1.0 / (1.0 + safe_exp(-g));
  let d = f32(dy[i]);
  dgu[j] = G(d * f32(gu[j + p.I]) * (s + g * s * (1.0 - s)));
  dgu[j + p.I] = G(d * g * s);
}`;
}

/** Gradient of gelu(x, approx) for upstream dY: dX in dY's dtype. */
export function geluBackward(ctx: GpuContext, dY: Tensor, x: Tensor, approx: 'tanh' | 'erf'): Tensor {
  assertDtype('geluBackward.x', x, 'f32', 'f16');
  return runBackward(ctx, approx === 'tanh' ? 'gelu_tanh' : 'gelu_erf', dY, [x])[0];
}

// ---- CPU references: plain loops in f64 ---------------------------------------------------------

export function siluMulCpu(gate: Float32Array, up: Float32Array): Float32Array {
  const y = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return y;
}

/** gu [R, 2I] (row-major) → [R, I]. */
export function siluMulHalvesCpu(gu: Float32Array, I: number): Float32Array {
  const R = gu.length / (2 * I);
  const y = new Float32Array(R * I);
  for (let r = 0; r < R; r++)
    for (let n = 0; n < I; n++) {
      const g = gu[r * 2 * I + n];
      y[r * I + n] = (g / (1 + Math.exp(-g))) * gu[r * 2 * I + I + n];
    }
  return y;
}

export function geluCpu(x: Float32Array, approx: 'tanh' | 'erf'): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (approx === 'tanh') y[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    else y[i] = v >= 0 ? v * (1 - 0.5 * erfc(v / Math.SQRT2)) : 0.5 * v * erfc(-v / Math.SQRT2);
  }
  return y;
}

/**
 * erfc(z) in f64, independent of the shader's polynomial; absolute error ≤ 1e-15 everywhere (checked
 * against Python's math.erfc; relative ≤ 3e-12 just below z = 3, where 1 − erf cancels, 3e-16 above):
 * for z < 3, 1 − erf(z) with erf from the all-positive series
 *   erf(z) = 2/√π · e^(−z²) · Σ_n 2^n z^(2n+1) / (1·3·…·(2n+1));
 * for z ≥ 3, the continued fraction erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))),
 * evaluated bottom-up with a fixed depth that converges to f64 for z ≥ 3.
 */
export function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let n = 1; term > 1e-17 * sum; n++) {
      term *= (2 * z * z) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
  }
  let f = z;
  for (let k = 60; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

// ---- backward CPU references: plain loops in f64 -------------------------------------------------

export function siluMulBackwardCpu(
  dY: Float32Array,
  gate: Float32Array,
  up: Float32Array,
): { dGate: Float32Array; dUp: Float32Array } {
  const dGate = new Float32Array(gate.length);
  const dUp = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    const s = 1 / (1 + Math.exp(-g));
    dGate[i] = dY[i] * up[i] * s * (1 + g * (1 - s));
    dUp[i] = dY[i] * g * s;
  }
  return { dGate, dUp };
}

/** dY [R, I], gu [R, 2I] → dGU [R, 2I]. */
export function siluMulHalvesBackwardCpu(dY: Float32Array, gu: Float32Array, I: number): Float32Array {
  const dGU = new Float32Array(gu.length);
  for (let r = 0; r < dY.length / I; r++)
    for (let n = 0; n < I; n++) {
      const j = r * 2 * I + n;
      const g = gu[j];
      const s = 1 / (1 + Math.exp(-g));
      dGU[j] = dY[r * I + n] * gu[j + I] * s * (1 + g * (1 - s));
      dGU[j + I] = dY[r * I + n] * g * s;
    }
  return dGU;
}

export function geluBackwardCpu(dY: Float32Array, x: Float32Array, approx: 'tanh' | 'erf'): Float32Array {
  const dX = new Float32Array(x.length);
  const k = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    let d: number;
    if (approx === 'tanh') {
      const t = Math.tanh(k * (v + 0.044715 * v ** 3));
      d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v);
    } else {
      const cdf = v >= 0 ? 1 - 0.5 * erfc(v / Math.SQRT2) : 0.5 * erfc(-v / Math.SQRT2);
      d = cdf + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);
    }
    dX[i] = dY[i] * d;
  }
  return dX;
}
