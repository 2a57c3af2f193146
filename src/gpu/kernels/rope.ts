import { type GpuContext, grid, type Variant, wgslTypes } from '../context';
import { assertDtype, assertShape, type DType, type Tensor } from '../tensor';

/**
 * Rotary position embedding, rotate-half convention (Hugging Face Qwen2): for pair i < D/2,
 * freq_i = theta^(−2i/D), angle = pos·freq_i, and
 *   y[i]       = x[i]·cos − x[i+D/2]·sin
 *   y[i+D/2]   = x[i+D/2]·cos + x[i]·sin.
 * x [T, H, D] (activation dtype), positions u32 [T] (one per token, so batched decode can mix
 * positions) → y [T, H, D].
 *
 * One variant only: a thread owns (token t, pair i) and loops over the H heads, so each cos/sin is
 * computed once per token and pair; shared memory would have nothing left to share. `variant` is
 * accepted for a uniform kernel API and ignored.
 *
 * Angle precision. A plain f32 `f32(pos) * freq` errs by up to ~|angle|·2^-24 from the product plus
 * pos·|δfreq| from freq itself: about 1–2e-4 rad at pos 3000 for the fastest pairs (freq ≈ 1) — the
 * same order as PyTorch's own f32 angles, and harmless next to bf16/f16 activations. But WGSL's
 * sin/cos are only specified on [−π, π], to 2^-11 absolute (SwiftShader's really are that coarse:
 * 1e-4 errors seen), so we range-reduce and evaluate sin/cos ourselves; doing the reduction in turns
 * (angle / 2π) with an exact split costs a few flops and makes the angle good to ~1e-6 rad:
 * - the host computes freq_i/(2π) in f64 and splits it into a (top 12 bits), b (next 12 bits) and
 *   c (the rest, rounded to f32), passed in the uniform buffer (8·D bytes);
 * - the shader splits pos = q1 + q0 with q1 = 4096·(pos >> 12), q0 = pos & 4095 (exact for
 *   pos < 2^24), so q1·a, q0·a, q1·b, q0·b are exact and so are their fractional parts; pos·c is
 *   below one turn and carries ~1e-8-turn error;
 * - the fractions are summed, wrapping to [−½, ½] turns after each add, and a quadrant split plus
 *   Taylor polynomials on [−π/4, π/4] give cos and sin to a few 1e-7.
 * Measured worst |Δy| against the f64 reference for |x| ≤ 1: 3e-7 at pos < 3072, 3.6e-7 at pos < 2^24
 * (lavapipe and SwiftShader alike), i.e. f32 output rounding.
 */
const WG = 64;

/**
 * WGSL for the exact angle reduction (see the header), shared with the fused qkv-rope kernel so both
 * compute bit-identical cos/sin: `rope_cos_sin(pos, turnTable entry of pair i)` → (cos, sin).
 */
export const ROPE_ANGLE_WGSL = `const TAU = 6.283185307179586;

// Distance to the nearest integer, in [−½, ½]; exact for any f32.
fn wrap(v: f32) -> f32 { return v - round(v); }

// (cos, sin) of r turns, r ∈ [−½, ½]: quadrant by rounding, then Taylor series on |u| ≤ π/4
// (truncation < 2e-9). WGSL's own sin/cos need only be good to 2^-11 (SwiftShader's are that coarse).
fn cos_sin_turns(r: f32) -> vec2f {
  let k = round(4.0 * r);
  let u = TAU * (r - 0.25 * k);  // r − k/4 is exact
  let u2 = u * u;
  let s = u * (1.0 + u2 * (-1.0 / 6.0 + u2 * (1.0 / 120.0 + u2 * (-1.0 / 5040.0 + u2 * (1.0 / 362880.0)))));
  let c = 1.0 + u2 * (-0.5 + u2 * (1.0 / 24.0 + u2 * (-1.0 / 720.0 + u2 * (1.0 / 40320.0 - u2 * (1.0 / 3628800.0)))));
  switch (i32(k) & 3) {
    case 1: { return vec2f(-s, c); }
    case 2: { return vec2f(-c, -s); }
    case 3: { return vec2f(s, -c); }
    default: { return vec2f(c, s); }
  }
}

// (cos, sin) of pos·freq_i, f = [a, b, c, 0] from turnTable.
fn rope_cos_sin(q: u32, f: vec4f) -> vec2f {
  let q1 = f32(q >> 12u) * 4096.0;  // q = q1 + q0, each a 12-bit integer (times a power of two)
  let q0 = f32(q & 4095u);
  // Products of 12-bit integers and 12-bit a, b are exact, so their wrapped parts are exact;
  // each sum below rounds by at most 2^-25 turns.
  var r = wrap(q1 * f.x) + wrap(q0 * f.x);
  r = wrap(r) + wrap(q1 * f.y);
  r = wrap(r) + wrap(q0 * f.y);
  r = wrap(r + f32(q) * f.z);
  return cos_sin_turns(r);
}`;

/**
 * 'forward' rotates each pair by +angle; 'backward' (the gradient: a rotation's transpose is its
 * inverse) by −angle, i.e. dX[i] = dY[i]·cos + dY[i+D/2]·sin, dX[i+D/2] = dY[i+D/2]·cos − dY[i]·sin.
 */
function shader(dtype: DType, half: number, direction: 'forward' | 'backward'): string {
  return `${wgslTypes({ T: dtype })}
struct P { ntok: u32, nhead: u32, dim: u32, npair: u32, tab: array<vec4f, ${half}> }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: P;

${ROPE_ANGLE_WGSL}

@compute @workgroup_size(${WG})
fn rope_${direction}_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let id = g.y * n.x * ${WG}u + g.x;
  if (id >= p.ntok * p.npair) { return; }
  let t = id / p.npair;
  let i = id % p.npair;
  let q = pos[t];
  let cs = rope_cos_sin(q, p.tab[i])${direction === 'backward' ? ' * vec2f(1.0, -1.0)' : ''};
  for (var h = 0u; h < p.nhead; h++) {
    let j = (t * p.nhead + h) * p.dim + i;
    let x1 = f32(x[j]);
    let x2 = f32(x[j + p.npair]);
    y[j] = T(x1 * cs.x - x2 * cs.y);
    y[j + p.npair] = T(x2 * cs.x + x1 * cs.y);
  }
}`;
}

/** Keeps the largest 12 significant bits of a positive f64 (so a 12-bit integer times it is exact in f32). */
function top12(v: number): number {
  if (v === 0) return 0;
  const scale = 2 ** (11 - Math.floor(Math.log2(v)));
  return Math.floor(v * scale) / scale;
}

const tables = new Map<string, number[]>();

/** Per pair i: [a, b, c, 0] with a + b + c = theta^(−2i/D) / 2π (see the header). */
export function turnTable(D: number, theta: number): number[] {
  const key = `${D}:${theta}`;
  let tab = tables.get(key);
  if (!tab) {
    tab = [];
    for (let i = 0; i < D / 2; i++) {
      const turns = theta ** ((-2 * i) / D) / (2 * Math.PI);
      const a = top12(turns);
      const b = top12(turns - a);
      tab.push(a, b, Math.fround(turns - a - b), 0);
    }
    tables.set(key, tab);
  }
  return tab;
}

export function rope(
  ctx: GpuContext,
  x: Tensor,
  positions: Tensor,
  theta: number,
  _variant: Variant = ctx.variant,
): Tensor {
  return run(ctx, 'forward', x, positions, theta);
}

/** Gradient of rope for upstream dY [T, H, D] (f32 or f16): dX [T, H, D] in dY's dtype, the inverse rotation. */
export function ropeBackward(
  ctx: GpuContext,
  dY: Tensor,
  positions: Tensor,
  theta: number,
  _variant: Variant = ctx.variant,
): Tensor {
  return run(ctx, 'backward', dY, positions, theta);
}

function run(
  ctx: GpuContext,
  direction: 'forward' | 'backward',
  x: Tensor,
  positions: Tensor,
  theta: number,
): Tensor {
  const op = direction === 'forward' ? 'rope' : 'ropeBackward';
  const name = direction === 'forward' ? 'x' : 'dY';
  const [T, H, D] = x.shape;
  assertShape(`${op}.${name}`, x, [T, H, D]);
  assertDtype(`${op}.${name}`, x, 'f32', 'f16');
  assertShape(`${op}.positions`, positions, [T]);
  assertDtype(`${op}.positions`, positions, 'u32');
  if (D % 2 !== 0 || D < 2) throw new Error(`${op}: head dim ${D} must be even and positive`);
  if (16 + D * 8 > ctx.device.limits.maxUniformBufferBindingSize)
    throw new Error(`${op}: head dim ${D} too large for the uniform table`);
  const half = D / 2;
  const y = ctx.empty(x.shape, x.dtype);
  const entry = `rope_${direction}_flat`;
  ctx.dispatch({
    pipeline: ctx.pipeline(shader(x.dtype, half, direction), entry),
    bindings: [x, positions, y],
    uniforms: { u32: [T, H, D, half], f32: turnTable(D, theta) },
    workgroups: grid(Math.ceil((T * half) / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return y;
}

/** CPU reference: plain loops in f64. */
export function ropeCpu(
  x: Float32Array,
  positions: ArrayLike<number>,
  T: number,
  H: number,
  D: number,
  theta: number,
): Float32Array {
  return rotateCpu(x, positions, T, H, D, theta, 1);
}

/** CPU reference of ropeBackward: the rotation by −angle. */
export function ropeBackwardCpu(
  dY: Float32Array,
  positions: ArrayLike<number>,
  T: number,
  H: number,
  D: number,
  theta: number,
): Float32Array {
  return rotateCpu(dY, positions, T, H, D, theta, -1);
}

/** Rotate-half by `sign`·angle, plain loops in f64. */
function rotateCpu(
  x: Float32Array,
  positions: ArrayLike<number>,
  T: number,
  H: number,
  D: number,
  theta: number,
  sign: 1 | -1,
): Float32Array {
  const y = new Float32Array(x.length);
  const half = D / 2;
  for (let t = 0; t < T; t++)
    for (let i = 0; i < half; i++) {
      const angle = positions[t] * theta ** ((-2 * i) / D);
      const cs = Math.cos(angle);
      const sn = sign * Math.sin(angle);
      for (let h = 0; h < H; h++) {
        const j = (t * H + h) * D + i;
        y[j] = x[j] * cs - x[j + half] * sn;
        y[j + half] = x[j + half] * cs + x[j] * sn;
      }
    }
  return y;
}
