import { type GpuContext, grid, type Variant, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { Tensor } from '../../tensor';
import type { Q4Layout, Q4ScaleDtype, Q4Scheme, QTensor } from '../quant/format';

/**
 * WGSL shared by the Q4 matmul kernels (gemv-q4.ts, gemm-q4.ts): bindings, scale/offset loads, masked x
 * loads, nibble unpacking and the dot product of one 32-k chunk.
 *
 * A chunk is 32 consecutive k = one vec4<u32> of packed weights, always inside one group. The kernels walk
 * CK = ceil(K/32) chunks (chunks wholly in the padding are skipped) with row stride CPR = Kp/32. With
 * ŵ = q·s + b (sym: b = −8·s; asym: b = min) a chunk contributes s·Σ x·q + b·Σ x, so the nibbles are
 * converted to f32 once and multiplied as they are; the scale is applied once per chunk.
 */
export type Float = 'f32' | 'f16';

export interface Q4KernelCfg {
  /** x dtype (WGSL alias A). */
  act: Float;
  /** y dtype (WGSL alias Y): x's, or another (an f32 residual stream, f16 outputs of f32 x). */
  ydt: Float;
  scheme: Q4Scheme;
  scale: Q4ScaleDtype;
  bias: Float | null;
  /** K % 4 == 0: x is read as vec4 (row stride XS = K/4); otherwise as scalars (XS = K). */
  xvec: boolean;
  /** K % 32 != 0: x loads past K must read as 0. */
  tail: boolean;
  /** 'partial': write f32 split-K partials [S, M, N] (no bias) instead of y. */
  out: 'y' | 'partial';
  /**
   * RMSNorm fused in front (γ binding `gam`, dtype `gamma`):
   * - 'ss': the kernel reads raw x with xr(), multiplies by γ (gv()) and accumulates Σx² itself; it
   *   applies 1/rms to its sums (GEMV without split-K: every thread walks all of x).
   * - 'inv': xv() returns x·γ·inv[r] with inv [M] f32 from a pre-pass (split-K GEMV, GEMM).
   */
  norm: 'none' | 'ss' | 'inv';
  gamma: Float | null;
  /** siluMulHalves epilogue in the kernel: weight rows n and n + N/2 make output n (GEMV, out 'y'). */
  pair: boolean;
  /** Residual add in the kernel: y holds the residual on entry and y += x·Ŵᵀ (GEMV; no bias, no pair). */
  residual: boolean;
}

/** Uniforms of every Q4 matmul kernel, in this order. */
export const Q4_UNIFORMS =
  'struct P { M: u32, N: u32, K: u32, XS: u32, CK: u32, CPR: u32, NG: u32, CPS: u32, eps: f32 }';

/**
 * Groups per vec4 load of scales (8 f16 or 4 f32 values). With `scaleVec`, q4Header declares the scales
 * and mins as vec4 arrays and `pick(v, i)` reads group i of one; the kernel must then load whole vec4s.
 */
export const scalesPerVec = (scale: Q4ScaleDtype) => (scale === 'f16' ? 8 : 4);

/** Bindings in order: x, packed, scales, [mins], [bias], [gam], [inv], y|partial. */
export function q4Header(c: Q4KernelCfg, scaleVec = false): string {
  const types: Record<string, Float> = { A: c.act, Y: c.ydt };
  if (c.bias) types.B = c.bias;
  if (c.norm !== 'none') types.G = c.gamma ?? 'f32';
  const st0 = c.scale === 'f16' ? 'u32' : 'f32';
  const st = scaleVec ? `vec4<${st0}>` : st0;
  const names = ['x', 'wq', 'sc'];
  const decl = [
    `var<storage, read> x: array<${c.xvec ? 'vec4<A>' : 'A'}>;`,
    'var<storage, read> wq: array<vec4<u32>>;',
    `var<storage, read> sc: array<${st}>;`,
  ];
  if (c.scheme === 'asym') {
    names.push('mn');
    decl.push(`var<storage, read> mn: array<${st}>;`);
  }
  const bias = c.bias && c.out === 'y';
  if (bias) decl.push('var<storage, read> bias: array<B>;');
  if (c.norm !== 'none') decl.push(`var<storage, read> gam: array<${c.xvec ? 'vec4<G>' : 'G'}>;`);
  if (c.norm === 'inv') decl.push('var<storage, read> inv: array<f32>;');
  decl.push(
    c.out === 'y' ? 'var<storage, read_write> y: array<Y>;' : 'var<storage, read_write> y: array<f32>;',
  );
  decl.push('var<uniform> p: P;');
  const rd = (arr: string, i: string) =>
    c.scale === 'f16' ? `unpack2x16float(${arr}[${i} >> 1u])[${i} & 1u]` : `${arr}[${i}]`;
  const xload = c.xvec
    ? `fn xr(r: u32, k4: u32) -> vec4<f32> {
  ${c.tail ? 'return select(vec4<f32>(), vec4<f32>(x[r * p.XS + min(k4, p.XS - 1u)]), k4 < p.XS);' : 'return vec4<f32>(x[r * p.XS + k4]);'}
}`
    : `fn xs1(r: u32, k: u32) -> f32 { return select(0.0, f32(x[r * p.XS + min(k, p.K - 1u)]), k < p.K); }
fn xr(r: u32, k4: u32) -> vec4<f32> {
  let k = 4u * k4;
  return vec4<f32>(xs1(r, k), xs1(r, k + 1u), xs1(r, k + 2u), xs1(r, k + 3u));
}`;
  // γ past K may read any value: x is 0 there.
  const gload =
    c.norm === 'none'
      ? ''
      : c.xvec
        ? 'fn gv(k4: u32) -> vec4<f32> { return vec4<f32>(gam[min(k4, p.XS - 1u)]); }'
        : `fn gs1(k: u32) -> f32 { return f32(gam[min(k, p.K - 1u)]); }
fn gv(k4: u32) -> vec4<f32> { let k = 4u * k4; return vec4<f32>(gs1(k), gs1(k + 1u), gs1(k + 2u), gs1(k + 3u)); }`;
  const xv = {
    none: 'fn xv(r: u32, k4: u32) -> vec4<f32> { return xr(r, k4); }',
    ss: 'fn xv(r: u32, k4: u32) -> vec4<f32> { return xr(r, k4) * gv(k4); }',
    inv: 'fn xv(r: u32, k4: u32) -> vec4<f32> { return xr(r, k4) * gv(k4) * inv[r]; }',
  }[c.norm];
  return `${wgslTypes(types)}
${Q4_UNIFORMS}
${decl.map((d, i) => `@group(0) @binding(${i}) ${d}`).join('\n')}
// Chunks per group (G / 32), a pipeline constant so c / CPG is a shift.
override CPG: u32 = 1u;
${
  scaleVec
    ? `fn pick(v: ${st}, i: u32) -> f32 { return ${c.scale === 'f16' ? 'unpack2x16float(v[i >> 1u])[i & 1u]' : 'v[i]'}; }`
    : `fn scale(g: u32) -> f32 { return ${rd('sc', 'g')}; }
fn offs(g: u32, s: f32) -> f32 { return ${c.scheme === 'sym' ? '-8.0 * s' : rd('mn', 'g')}; }`
}
// The 4 x values of row r at k = 4·k4 … 4·k4 + 3, as f32 (0 past K): raw (xr) and as the matmul
// sees them (xv: times γ, and times 1/rms in 'inv' mode).
${xload}
${gload}
${xv}
fn silu(g: f32) -> f32 { return g / (1.0 + exp(clamp(-g, -88.0, 88.0))); }
// Nibbles 0–3 (lo) and 4–7 (hi) of a packed word as f32.
fn qlo(u: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(u) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)); }
fn qhi(u: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(u) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)); }
fn fin(v: f32, n: u32) -> ${c.out === 'y' ? 'Y' : 'f32'} { return ${c.out === 'y' ? `Y(${bias ? 'v + f32(bias[n])' : 'v'})` : 'v'}; }
`;
}

/** Number of storage bindings q4Header declares (the uniform buffer follows them). */
export function q4BindingCount(c: Q4KernelCfg): number {
  const norm = c.norm === 'none' ? 0 : c.norm === 'ss' ? 1 : 2;
  return 4 + (c.scheme === 'asym' ? 1 : 0) + (c.bias && c.out === 'y' ? 1 : 0) + norm;
}

/**
 * WGSL lines loading the 8 x vec4 of a chunk for row m into x0 … x7 (as the matmul sees them). With
 * `ss` ('ss' norm mode), the raw values' squares are added to ss[m] and γ (loaded once per chunk by
 * `pre`, outside the row loop) is applied here.
 */
export function xLoads(k4: string, ss: string | null): { pre: string; body: string } {
  const T = Array.from({ length: 8 }, (_, t) => t);
  if (!ss) return { pre: '', body: T.map((t) => `let x${t} = xv(m, ${k4} + ${t}u);`).join(' ') };
  return {
    pre: T.map((t) => `let g${t} = gv(${k4} + ${t}u);`).join(' '),
    body: `${T.map((t) => `let r${t} = xr(m, ${k4} + ${t}u);`).join(' ')}
      ${ss}[m] += ${T.map((t) => `dot(r${t}, r${t})`).join(' + ')};
      ${T.map((t) => `let x${t} = r${t} * g${t};`).join(' ')}`,
  };
}

/**
 * WGSL block adding chunk `c` of weight rows `rows[j]` to `accs[j][m]` (vec4<f32>) for every x row m < M
 * (≤ 4), and Σx² to `ss[m]` when given. The x rows are a loop, not unrolled: one pipeline serves every M,
 * and software compilers stay quick. `single` (M = 1, decode): m is the constant 0, so the accumulator
 * component is known at compile time instead of indexed at run time.
 */
export function chunkBody(
  rows: string[],
  c: string,
  accs: string[],
  ss: string | null = null,
  single = false,
): string {
  const x = xLoads('k4', ss);
  const dots = (j: number) => Array.from({ length: 8 }, (_, t) => `dot(x${t}, q${j}_${t})`).join(' + ');
  const sum = Array.from({ length: 8 }, (_, t) => `x${t}`).join(' + ');
  const w = rows.map(
    (n, j) => `let wv${j} = wq[${n} * p.CPR + ${c}];
    let gi${j} = ${n} * p.NG + ${c} / CPG;
    let s${j} = scale(gi${j});
    let b${j} = offs(gi${j}, s${j});
    let q${j}_0 = qlo(wv${j}.x); let q${j}_1 = qhi(wv${j}.x); let q${j}_2 = qlo(wv${j}.y); let q${j}_3 = qhi(wv${j}.y);
    let q${j}_4 = qlo(wv${j}.z); let q${j}_5 = qhi(wv${j}.z); let q${j}_6 = qlo(wv${j}.w); let q${j}_7 = qhi(wv${j}.w);`,
  );
  return `{
    ${w.join('\n    ')}
    let k4 = 8u * ${c};
    ${x.pre}
    ${single ? '{ const m = 0u;' : 'for (var m = 0u; m < p.M; m++) {'}
      ${x.body}
      let xs = dot(${sum}, vec4<f32>(1.0));
      ${accs.map((a, j) => `${a}[m] += s${j} * (${dots(j)}) + b${j} * xs;`).join('\n      ')}
    }
  }`;
}

/** One validated Q4 matmul call, as the kernels see it: x [M, K], weight [N, K], y [M, N]. */
export interface Q4Problem {
  x: Tensor;
  q: QTensor;
  bias: Tensor | null;
  /** RMSNorm weight γ [K] when fused (cfg.norm ≠ 'none'). */
  gamma: Tensor | null;
  eps: number;
  /** 1/rms per row [M] f32, for cfg.norm 'inv'. */
  inv: Tensor | null;
  M: number;
  N: number;
  K: number;
  L: Q4Layout;
  /** The configuration for writing y directly (kernels may switch `out` to 'partial'). */
  cfg: Q4KernelCfg;
}

/** Chunks of 32 k that hold any real k. */
export const chunksOf = (pr: Q4Problem) => Math.ceil(pr.K / 32);

/** Uniform values in Q4_UNIFORMS order; `cps` = chunks per split-K slice. */
export function q4Uniforms(pr: Q4Problem, cps: number): number[] {
  const { M, N, K, L, cfg } = pr;
  return [M, N, K, cfg.xvec ? K / 4 : K, chunksOf(pr), L.Kp / 32, L.groups, cps];
}

/** The uniforms of a dispatch: q4Uniforms and eps. */
export const q4UniformValues = (pr: Q4Problem, cps: number) => ({
  u32: q4Uniforms(pr, cps),
  f32: [pr.eps],
});

/** Storage bindings in q4Header order for kernel configuration `c`, writing to `out`. */
export function q4Bindings(pr: Q4Problem, out: Tensor, c: Q4KernelCfg = pr.cfg): Tensor[] {
  const b: Tensor[] = [pr.x, pr.q.packed, pr.q.scales];
  if (pr.q.mins) b.push(pr.q.mins);
  if (c.bias && c.out === 'y' && pr.bias) b.push(pr.bias);
  if (c.norm !== 'none') {
    if (!pr.gamma) throw new Error('q4: norm without γ');
    b.push(pr.gamma);
  }
  if (c.norm === 'inv') {
    if (!pr.inv) throw new Error("q4: norm 'inv' without inv");
    b.push(pr.inv);
  }
  b.push(out);
  return b;
}

export const q4Constants = (pr: Q4Problem) => ({ CPG: pr.L.groupSize / 32 });

/**
 * The fused-RMSNorm pre-pass for split-K GEMV and GEMM: inv [M] f32 = 1 / sqrt(mean(x²) + eps) per row
 * of x. 'flat': one thread per row (no barriers); 'tiled': one 64-thread workgroup per row.
 */
function rmsInvShader(act: Float, variant: Variant): string {
  const head = `${wgslTypes({ A: act })}
struct P { M: u32, K: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<A>;
@group(0) @binding(1) var<storage, read_write> inv: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
`;
  if (variant === 'flat')
    return `${head}
@compute @workgroup_size(64)
fn q4_rms_inv_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = g.y * nw.x * 64u + g.x;
  if (r >= p.M) { return; }
  var ss = 0.0;
  for (var k = 0u; k < p.K; k++) { let v = f32(x[r * p.K + k]); ss += v * v; }
  inv[r] = inverseSqrt(ss / f32(p.K) + p.eps);
}`;
  return `${head}
var<workgroup> part: array<f32, 64>;
@compute @workgroup_size(64)
fn q4_rms_inv_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u,
                    @builtin(local_invocation_index) l: u32) {
  let r = wid.y * nw.x + wid.x;
  var ss = 0.0;
  for (var k = l; k < p.K; k += 64u) { let v = f32(x[r * p.K + k]); ss += v * v; }
  part[l] = ss;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (l < s) { part[l] += part[l + s]; }
    workgroupBarrier();
  }
  if (l == 0u) { inv[r] = inverseSqrt(part[0] / f32(p.K) + p.eps); }
}`;
}

export function rmsInvQ4(ctx: GpuContext, pr: Q4Problem, variant: Variant): Tensor {
  const { M, K } = pr;
  const inv = ctx.empty([M], 'f32', 'q4.inv');
  const entry = `q4_rms_inv_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`q4_rms_inv|${pr.cfg.act}|${variant}`, () => rmsInvShader(pr.cfg.act, variant)),
      entry,
    ),
    bindings: [pr.x, inv],
    uniforms: { u32: [M, K], f32: [pr.eps] },
    workgroups: grid(variant === 'flat' ? Math.ceil(M / 64) : M, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return inv;
}
