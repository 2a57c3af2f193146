import { wgslTypes } from '../../context';
import type { Tensor } from '../../tensor';
import type { Q4Layout, Q4ScaleDtype, Q4Scheme, QTensor } from './format';

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
  /** x and y dtype. */
  act: Float;
  scheme: Q4Scheme;
  scale: Q4ScaleDtype;
  bias: Float | null;
  /** K % 4 == 0: x is read as vec4 (row stride XS = K/4); otherwise as scalars (XS = K). */
  xvec: boolean;
  /** K % 32 != 0: x loads past K must read as 0. */
  tail: boolean;
  /** 'partial': write f32 split-K partials [S, M, N] (no bias) instead of y. */
  out: 'y' | 'partial';
}

/** Uniforms of every Q4 matmul kernel, in this order. */
export const Q4_UNIFORMS =
  'struct P { M: u32, N: u32, K: u32, XS: u32, CK: u32, CPR: u32, NG: u32, CPS: u32 }';

/** Bindings in order: x, packed, scales, [mins], [bias], y|partial. */
export function q4Header(c: Q4KernelCfg): string {
  const types: Record<string, Float> = { A: c.act };
  if (c.bias) types.B = c.bias;
  const st = c.scale === 'f16' ? 'u32' : 'f32';
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
  decl.push(
    c.out === 'y' ? 'var<storage, read_write> y: array<A>;' : 'var<storage, read_write> y: array<f32>;',
  );
  decl.push('var<uniform> p: P;');
  const rd = (arr: string, i: string) =>
    c.scale === 'f16' ? `unpack2x16float(${arr}[${i} >> 1u])[${i} & 1u]` : `${arr}[${i}]`;
  const xload = c.xvec
    ? `fn xv(r: u32, k4: u32) -> vec4<f32> {
  ${c.tail ? 'return select(vec4<f32>(), vec4<f32>(x[r * p.XS + min(k4, p.XS - 1u)]), k4 < p.XS);' : 'return vec4<f32>(x[r * p.XS + k4]);'}
}`
    : `fn xs1(r: u32, k: u32) -> f32 { return select(0.0, f32(x[r * p.XS + min(k, p.K - 1u)]), k < p.K); }
fn xv(r: u32, k4: u32) -> vec4<f32> {
  let k = 4u * k4;
  return vec4<f32>(xs1(r, k), xs1(r, k + 1u), xs1(r, k + 2u), xs1(r, k + 3u));
}`;
  return `${wgslTypes(types)}
${Q4_UNIFORMS}
${decl.map((d, i) => `@group(0) @binding(${i}) ${d}`).join('\n')}
// Chunks per group (G / 32), a pipeline constant so c / CPG is a shift.
override CPG: u32 = 1u;
fn scale(g: u32) -> f32 { return ${rd('sc', 'g')}; }
fn offs(g: u32, s: f32) -> f32 { return ${c.scheme === 'sym' ? '-8.0 * s' : rd('mn', 'g')}; }
// The 4 x values of row r at k = 4·k4 … 4·k4 + 3, as f32 (0 past K).
${xload}
// Nibbles 0–3 (lo) and 4–7 (hi) of a packed word as f32.
fn qlo(u: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(u) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)); }
fn qhi(u: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(u) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)); }
fn fin(v: f32, n: u32) -> ${c.out === 'y' ? 'A' : 'f32'} { return ${c.out === 'y' ? `A(${bias ? 'v + f32(bias[n])' : 'v'})` : 'v'}; }
`;
}

/** Number of storage bindings q4Header declares (the uniform buffer follows them). */
export function q4BindingCount(c: Q4KernelCfg): number {
  return 4 + (c.scheme === 'asym' ? 1 : 0) + (c.bias && c.out === 'y' ? 1 : 0);
}

/**
 * WGSL block adding chunk `c` of weight row `n` to `acc[m]` (a vec4<f32>) for every x row m < M (≤ 4).
 * The rows are a loop, not unrolled: one pipeline serves every M, and software compilers stay quick.
 */
export function chunkBody(n: string, c: string, acc: string): string {
  const xs = Array.from({ length: 8 }, (_, t) => `let x${t} = xv(m, k4 + ${t}u);`);
  const dots = Array.from({ length: 8 }, (_, t) => `dot(x${t}, q${t})`);
  const sum = Array.from({ length: 8 }, (_, t) => `x${t}`).join(' + ');
  return `{
    let wv = wq[${n} * p.CPR + ${c}];
    let gi = ${n} * p.NG + ${c} / CPG;
    let s = scale(gi);
    let b = offs(gi, s);
    let q0 = qlo(wv.x); let q1 = qhi(wv.x); let q2 = qlo(wv.y); let q3 = qhi(wv.y);
    let q4 = qlo(wv.z); let q5 = qhi(wv.z); let q6 = qlo(wv.w); let q7 = qhi(wv.w);
    let k4 = 8u * ${c};
    for (var m = 0u; m < p.M; m++) {
      ${xs.join(' ')}
      ${acc}[m] += s * (${dots.join(' + ')}) + b * dot(${sum}, vec4<f32>(1.0));
    }
  }`;
}

/** One validated Q4 matmul call, as the kernels see it: x [M, K], weight [N, K], y [M, N]. */
export interface Q4Problem {
  x: Tensor;
  q: QTensor;
  bias: Tensor | null;
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

/** Storage bindings in q4Header order, writing to `out`. */
export function q4Bindings(pr: Q4Problem, out: Tensor, withBias: boolean): Tensor[] {
  const b: Tensor[] = [pr.x, pr.q.packed, pr.q.scales];
  if (pr.q.mins) b.push(pr.q.mins);
  if (withBias && pr.bias) b.push(pr.bias);
  b.push(out);
  return b;
}

export const q4Constants = (pr: Q4Problem) => ({ CPG: pr.L.groupSize / 32 });
