import { type GpuContext, grid, type Variant, wgslTypes } from '../../context';
import { assertDtype, assertShape, fmt, type Tensor } from '../../tensor';
import { flatTileOrigin, flatTileStore, range, tiledStore } from './tile-wgsl';

/**
 * Linear layer: y = x · wᵀ + bias, accumulated in f32.
 * x [..., K] (activation dtype A), w [N, K] (PyTorch Linear layout, dtype W), bias [N] (dtype W) → y [..., N] in A,
 * or in another float dtype Y when asked (f32 sums of f16 inputs that feed an f32 residual stream).
 *
 * Kernels (entry points `matmul_<kernel>_<variant>`):
 * - forward_flat: no barriers; each thread owns a TM×TN block of outputs and walks K with vec4 loads
 *   (K % 4 == 0) or scalars. Fast on software adapters, which pay heavily for workgroupBarrier.
 * - forward_tiled: 64×64 output tile per 16×16 workgroup, K staged through shared memory in steps of 16,
 *   4×4 outputs per thread. For real GPUs.
 * - gemv_flat / gemv_tiled: M ≤ GEMV_MAX_M (decode). One thread (flat) or one 64-thread workgroup with a
 *   shared-memory reduction (tiled) per output column, reading that row of w contiguously once for all M rows.
 * Rows and columns past the edge are clamped on load and skipped on store, so any M, N, K works.
 * To keep the number of compiled pipelines small (software adapters take ~0.2 s to compile each), bias is a
 * runtime switch (without one, w is bound again in its place) and GEMV has two shapes: M = 1 (decode) and
 * M ≤ GEMV_MAX_M with per-row uniform guards.
 */
type Float = 'f32' | 'f16';
export type MatmulKernel = 'gemm' | 'gemv';

/** matmul switches to the GEMV kernels at or below this many rows. */
export const GEMV_MAX_M = 4;
const WG = 64;
const TM = 4; // flat GEMM: output rows per thread
const TN = 8; // flat GEMM: output columns per thread (multiple of 4)
const TILE = 64; // tiled GEMM: output tile edge
const BK = 16; // tiled GEMM: K step staged in shared memory
const PAD = TILE + 1; // shared row stride; +1 keeps the transposed stores free of bank conflicts

interface Cfg {
  a: Float;
  w: Float;
  /** y's dtype. */
  y: Float;
  /** x and w are read as vec4 (K % 4 == 0); the uniform KV is then K / 4. */
  vec: boolean;
}

function header(c: Cfg): string {
  const xv = c.vec ? 'vec4<A>' : 'A';
  const wv = c.vec ? 'vec4<W>' : 'W';
  return `${wgslTypes({ A: c.a, W: c.w, Y: c.y })}
struct P { M: u32, N: u32, KV: u32, hasBias: u32 }
@group(0) @binding(0) var<storage, read> x: array<${xv}>;
@group(0) @binding(1) var<storage, read> w: array<${wv}>;
@group(0) @binding(2) var<storage, read> bias: array<W>;
@group(0) @binding(3) var<storage, read_write> y: array<Y>;
@group(0) @binding(4) var<uniform> p: P;
fn fin(v: f32, n: u32) -> Y {
  if (p.hasBias != 0u) { return Y(v + f32(bias[n])); }
  return Y(v);
}
`;
}

/** WGSL snippets for one K step: a load widened to f32 and the product of two loads. */
function ops(c: Cfg) {
  return {
    ld: (arr: string, idx: string) => (c.vec ? `vec4<f32>(${arr}[${idx}])` : `f32(${arr}[${idx}])`),
    mul: (a: string, b: string) => (c.vec ? `dot(${a}, ${b})` : `${a} * ${b}`),
  };
}

function gemmFlat(c: Cfg): string {
  const { ld, mul } = ops(c);
  const NV = TN / 4;
  const lines = (f: (i: number) => string, n: number) => range(n).map(f).join('\n  ');
  const acc = range(TM).flatMap((i) => range(NV).map((j) => `var c${i}_${j} = vec4<f32>();`));
  const fma = range(TM).flatMap((i) =>
    range(NV).map((j) => {
      const dots = range(4).map((q) => mul(`a${i}`, `b${4 * j + q}`));
      return `c${i}_${j} += vec4<f32>(${dots.join(', ')});`;
    }),
  );
  return `${header(c)}
@compute @workgroup_size(${WG})
fn matmul_forward_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${flatTileOrigin(WG, TM, TN)}
  ${lines((i) => `let xr${i} = min(m0 + ${i}u, p.M - 1u) * p.KV;`, TM)}
  ${lines((j) => `let wr${j} = min(n0 + ${j}u, p.N - 1u) * p.KV;`, TN)}
  ${acc.join('\n  ')}
  for (var k = 0u; k < p.KV; k++) {
    ${lines((i) => `let a${i} = ${ld('x', `xr${i} + k`)};`, TM)}
    ${lines((j) => `let b${j} = ${ld('w', `wr${j} + k`)};`, TN)}
    ${fma.join('\n    ')}
  }
  ${flatTileStore(TM, TN)}
}`;
}

function gemmTiled(c: Cfg): string {
  const T = TILE;
  const S = T / 16; // outputs per thread along each axis
  const acc = range(S).map((i) => `var c${i} = vec4<f32>();`);
  const fma = range(S).map((i) => `c${i} += xs[kk * ${PAD}u + l.y + ${16 * i}u] * b;`);
  const bload = range(S).map((j) => `ws[kk * ${PAD}u + l.x + ${16 * j}u]`);
  return `${header(c)}
var<workgroup> xs: array<f32, ${BK * PAD}>; // [k][m]
var<workgroup> ws: array<f32, ${BK * PAD}>; // [k][n]
@compute @workgroup_size(16, 16)
fn matmul_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let mt = wg.y * ${T}u;
  let nt = wg.x * ${T}u;
  let lid = l.y * 16u + l.x;
  ${acc.join('\n  ')}
  for (var k0 = 0u; k0 < p.KV; k0 += ${BK}u) {
    for (var r = 0u; r < ${(T * BK) / 256}u; r++) {
      let e = lid + r * 256u;
      let row = e / ${BK}u;
      let kk = e % ${BK}u;
      let gk = k0 + kk;
      let kc = min(gk, p.KV - 1u);
      let gm = mt + row;
      let gn = nt + row;
      xs[kk * ${PAD}u + row] = select(0.0, f32(x[min(gm, p.M - 1u) * p.KV + kc]), gm < p.M && gk < p.KV);
      ws[kk * ${PAD}u + row] = select(0.0, f32(w[min(gn, p.N - 1u) * p.KV + kc]), gn < p.N && gk < p.KV);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let b = vec4<f32>(${bload.join(', ')});
      ${fma.join('\n      ')}
    }
    workgroupBarrier();
  }
  let m0 = mt + l.y;
  let n0 = nt + l.x;
  ${tiledStore(S)}
}`;
}

/** Row i of x takes part only when i < M; rows ≥ 1 are guarded when the shader serves several M. */
function guard(i: number, body: string): string {
  return i === 0 ? body : `if (p.M > ${i}u) { ${body} }`;
}

function gemvFlat(c: Cfg, rows: number): string {
  const { ld, mul } = ops(c);
  const r = range(rows);
  return `${header(c)}
@compute @workgroup_size(${WG})
fn matmul_gemv_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let n = g.y * nw.x * ${WG}u + g.x;
  if (n >= p.N) { return; }
  let wr = n * p.KV;
  ${r.map((i) => `var c${i} = 0.0;`).join(' ')}
  for (var k = 0u; k < p.KV; k++) {
    let b = ${ld('w', 'wr + k')};
    ${r.map((i) => guard(i, `c${i} += ${mul(ld('x', `${i}u * p.KV + k`), 'b')};`)).join('\n    ')}
  }
  ${r.map((i) => guard(i, `y[${i}u * p.N + n] = fin(c${i}, n);`)).join('\n  ')}
}`;
}

function gemvTiled(c: Cfg, rows: number): string {
  const { ld, mul } = ops(c);
  const r = range(rows);
  return `${header(c)}
var<workgroup> part: array<vec4<f32>, ${WG}>;
@compute @workgroup_size(${WG})
fn matmul_gemv_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u,
                     @builtin(local_invocation_id) l: vec3u) {
  let n = wg.y * nw.x + wg.x;
  if (n >= p.N) { return; }
  let wr = n * p.KV;
  var c = vec4<f32>();
  for (var k = l.x; k < p.KV; k += ${WG}u) {
    let b = ${ld('w', 'wr + k')};
    ${r.map((i) => guard(i, `c[${i}] += ${mul(ld('x', `${i}u * p.KV + k`), 'b')};`)).join('\n    ')}
  }
  part[l.x] = c;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l.x < s) { part[l.x] += part[l.x + s]; }
    workgroupBarrier();
  }
  if (l.x == 0u) {
    ${r.map((i) => guard(i, `y[${i}u * p.N + n] = fin(part[0][${i}], n);`)).join('\n    ')}
  }
}`;
}

const shaders = new Map<string, string>();
function shaderFor(kernel: MatmulKernel, variant: Variant, c: Cfg, M: number): string {
  const rows = M === 1 ? 1 : GEMV_MAX_M; // GEMV shapes: decode, and the rest with guards
  const key = JSON.stringify([kernel, variant, c, kernel === 'gemv' ? rows : 0]);
  let code = shaders.get(key);
  if (code === undefined) {
    if (kernel === 'gemv') code = variant === 'flat' ? gemvFlat(c, rows) : gemvTiled(c, rows);
    else code = variant === 'flat' ? gemmFlat(c) : gemmTiled(c);
    shaders.set(key, code);
  }
  return code;
}

/** y = x · wᵀ (+ bias); picks the GEMV kernels when M ≤ GEMV_MAX_M. `out`: y's dtype (default x's). */
export function matmul(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  variant = ctx.variant,
  out?: Float,
): Tensor {
  const M = x.size / x.shape[x.shape.length - 1];
  return matmulWith(ctx, x, w, bias, variant, M <= GEMV_MAX_M ? 'gemv' : 'gemm', out);
}

/** matmul with the kernel chosen by the caller (tests and benchmarks); 'gemv' needs M ≤ GEMV_MAX_M. */
export function matmulWith(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  variant: Variant,
  kernel: MatmulKernel,
  out: Float = x.dtype as Float,
): Tensor {
  assertDtype('matmul.x', x, 'f32', 'f16');
  assertDtype('matmul.w', w, 'f32', 'f16');
  const K = x.shape[x.shape.length - 1];
  if (!(K > 0)) throw new Error(`matmul.x: empty last dimension in ${fmt(x.shape)}`);
  assertShape('matmul.w', w, [undefined, K]);
  const N = w.shape[0];
  const M = x.size / K;
  if (bias) {
    assertShape('matmul.bias', bias, [N]);
    assertDtype('matmul.bias', bias, w.dtype);
  }
  if ((x.dtype === 'f16' || w.dtype === 'f16' || out === 'f16') && !ctx.summary.f16) {
    throw new Error('matmul: f16 tensors need the shader-f16 feature, which this adapter lacks');
  }
  if (kernel === 'gemv' && M > GEMV_MAX_M) throw new Error(`matmul: gemv takes M ≤ ${GEMV_MAX_M}, got ${M}`);
  const y = ctx.empty([...x.shape.slice(0, -1), N], out);
  if (M === 0 || N === 0) return y;

  // The tiled GEMM stages scalars; every other kernel reads vec4 when rows are whole vec4s.
  const vec = K % 4 === 0 && !(kernel === 'gemm' && variant === 'tiled');
  const c: Cfg = { a: x.dtype as Float, w: w.dtype as Float, y: out, vec };
  const entry = `matmul_${kernel === 'gemv' ? 'gemv' : 'forward'}_${variant}`;
  let workgroups: [number, number];
  if (kernel === 'gemv')
    workgroups = grid(variant === 'flat' ? Math.ceil(N / WG) : N, ctx.maxWorkgroupsPerDim);
  else if (variant === 'flat') {
    workgroups = grid(Math.ceil((Math.ceil(M / TM) * Math.ceil(N / TN)) / WG), ctx.maxWorkgroupsPerDim);
  } else workgroups = [Math.ceil(N / TILE), Math.ceil(M / TILE)];

  ctx.dispatch({
    pipeline: ctx.pipeline(shaderFor(kernel, variant, c, M), entry),
    bindings: [x, w, bias ?? w, y], // without bias, w stands in (never read): one pipeline serves both
    uniforms: { u32: [M, N, vec ? K / 4 : K, bias ? 1 : 0] },
    workgroups,
    label: entry,
  });
  return y;
}

/** CPU reference: plain loops, f64 accumulation. x [M, K], w [N, K], bias [N] → [M, N]. */
export function matmulCpu(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  M: number,
  N: number,
  K: number,
): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
  }
  return y;
}
