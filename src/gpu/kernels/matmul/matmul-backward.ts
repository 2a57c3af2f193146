import { type GpuContext, grid, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import { assertDtype, assertShape, type DType, fmt, type Tensor } from '../../tensor';
import { layoutOf, type QTensor } from '../quant/format';
import { transpose } from '../transpose';
import { matmul } from './matmul';

/**
 * Backward of the plain linear layer in matmul.ts, y = x·wᵀ + bias, with x [M, K] (any leading dims),
 * w [N, K], dY [M, N]:
 *   dX = dY·w          [M, K], in dY's dtype (an activation gradient, f32 or f16)
 *   dW = dYᵀ·x         [N, K], f32 (LoRA A and B, or full weights of a small model)
 *   dB = Σ_m dY[m, :]  [N],    f32
 * Each is its own function, so a frozen layer asks only for dX. Small products: one thread per output
 * element looping over the reduction dimension in order, f32 accumulation, no barriers and no atomics;
 * the column index is the fastest thread index, so the operand read along it is coalesced and the other
 * is a broadcast. Larger ones (GEMM_MIN_WORK) run on the forward's GEMM with transposed operands.
 * Entry points: matmul_backward_dx, matmul_backward_dw, matmul_backward_db; matmulQ4BackwardInput gives dX
 * through a frozen 4-bit weight (matmul_q4_backward_dx).
 */
const WG = 64;

type Kind = 'dx' | 'dw' | 'db';

function shader(kind: Kind, aDtype: DType, bDtype: DType): string {
  // dx: a = dY [M, N], b = w [N, K] → out [M, K];  dw: a = dY [M, N], b = x [M, K] → out [N, K];
  // db: a = dY [M, N] → out [N] (no b).
  const bufs = [
    'var<storage, read> a: array<A>;',
    ...(kind === 'db' ? [] : ['var<storage, read> b: array<B>;']),
    `var<storage, read_write> out: array<${kind === 'dx' ? 'A' : 'f32'}>;`,
    'var<uniform> p: P;',
  ];
  const head = `${wgslTypes({ A: aDtype, B: bDtype })}
struct P { M: u32, N: u32, K: u32 }
${bufs.map((v, k) => `@group(0) @binding(${k}) ${v}`).join('\n')}
`;
  const body = {
    dx: `if (i >= p.M * p.K) { return; }
  let m = i / p.K;
  let k = i % p.K;
  var acc = 0.0;
  for (var n = 0u; n < p.N; n++) { acc += f32(a[m * p.N + n]) * f32(b[n * p.K + k]); }
  out[i] = A(acc);`,
    dw: `if (i >= p.N * p.K) { return; }
  let n = i / p.K;
  let k = i % p.K;
  var acc = 0.0;
  for (var m = 0u; m < p.M; m++) { acc += f32(a[m * p.N + n]) * f32(b[m * p.K + k]); }
  out[i] = acc;`,
    db: `if (i >= p.N) { return; }
  var acc = 0.0;
  for (var m = 0u; m < p.M; m++) { acc += f32(a[m * p.N + i]); }
  out[i] = acc;`,
  }[kind];
  return `${head}
@compute @workgroup_size(${WG})
fn matmul_backward_${kind}(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  ${body}
}`;
}

function run(
  ctx: GpuContext,
  kind: Kind,
  a: Tensor,
  b: Tensor | null,
  out: Tensor,
  M: number,
  N: number,
  K: number,
): Tensor {
  const entry = `matmul_backward_${kind}`;
  const bDtype = b?.dtype ?? a.dtype;
  if ((a.dtype === 'f16' || bDtype === 'f16') && !ctx.summary.f16)
    throw new Error(`${entry}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`${entry}|${a.dtype}|${bDtype}`, () => shader(kind, a.dtype, bDtype)),
      entry,
    ),
    bindings: b ? [a, b, out] : [a, out],
    uniforms: { u32: [M, N, K] },
    workgroups: grid(Math.ceil(out.size / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return out;
}

/** Rows M and columns N of dY [..., N]. */
function rowsOf(name: string, dY: Tensor): [number, number] {
  assertDtype(`${name}.dY`, dY, 'f32', 'f16');
  const N = dY.shape[dY.shape.length - 1];
  if (!(N > 0)) throw new Error(`${name}.dY: empty last dimension in ${fmt(dY.shape)}`);
  return [dY.size / N, N];
}

/**
 * Above this many multiply-adds, dX and dW run on the forward's GEMM over transposed operands (the
 * one-thread-per-output loops read a strided operand and are ~15× slower on software adapters).
 */
const GEMM_MIN_WORK = 1 << 16;

/** dX = dY·w: dY [..., N], w [N, K] → dX [..., K] in dY's dtype. */
export function matmulBackwardInput(ctx: GpuContext, dY: Tensor, w: Tensor): Tensor {
  const [M, N] = rowsOf('matmulBackwardInput', dY);
  assertDtype('matmulBackwardInput.w', w, 'f32', 'f16');
  assertShape('matmulBackwardInput.w', w, [N, undefined]);
  const K = w.shape[1];
  if (M * N * K >= GEMM_MIN_WORK) return ctx.tidy(() => matmul(ctx, dY, transpose(ctx, w), null)); // dY·(wᵀ)ᵀ
  return run(ctx, 'dx', dY, w, ctx.empty([...dY.shape.slice(0, -1), K], dY.dtype), M, N, K);
}

/** dW = dYᵀ·x: dY [..., N], x [..., K] (same leading dims) → dW [N, K] f32. */
export function matmulBackwardWeight(ctx: GpuContext, dY: Tensor, x: Tensor): Tensor {
  const [M, N] = rowsOf('matmulBackwardWeight', dY);
  assertDtype('matmulBackwardWeight.x', x, 'f32', 'f16');
  const K = x.shape[x.shape.length - 1];
  assertShape('matmulBackwardWeight.x', x, [...dY.shape.slice(0, -1), K]);
  // The GEMM's output takes its first operand's dtype: dYᵀ, so f32 dY only.
  if (dY.dtype === 'f32' && M * N * K >= GEMM_MIN_WORK)
    return ctx.tidy(() => matmul(ctx, transpose(ctx, dY), transpose(ctx, x), null)); // (dYᵀ)·(xᵀ)ᵀ
  return run(ctx, 'dw', dY, x, ctx.empty([N, K], 'f32'), M, N, K);
}

/** dB = column sums of dY [..., N] → [N] f32. */
export function matmulBackwardBias(ctx: GpuContext, dY: Tensor): Tensor {
  const [M, N] = rowsOf('matmulBackwardBias', dY);
  return run(ctx, 'db', dY, null, ctx.empty([N], 'f32'), M, N, 0);
}

/** All three gradients of matmul(x, w, bias); dB is null when the layer has no bias. */
export function matmulBackward(
  ctx: GpuContext,
  dY: Tensor,
  x: Tensor,
  w: Tensor,
  hasBias: boolean,
): { dX: Tensor; dW: Tensor; dB: Tensor | null } {
  return {
    dX: matmulBackwardInput(ctx, dY, w),
    dW: matmulBackwardWeight(ctx, dY, x),
    dB: hasBias ? matmulBackwardBias(ctx, dY) : null,
  };
}

/**
 * dX = dY·ŵ through a frozen 4-bit weight (LoRA over a Q4 base; format in quant/format.ts): one thread per
 * (m, k) decoding its column of ŵ — (q − 8)·scale (sym) or q·scale + min (asym) — as it walks n.
 * Entry point matmul_q4_backward_dx.
 */
function q4Shader(gDtype: DType, scheme: 'sym' | 'asym', scale: 'f16' | 'f32'): string {
  const st = scale === 'f16' ? 'u32' : 'f32';
  const rd = (arr: string, i: string) =>
    scale === 'f16' ? `unpack2x16float(${arr}[${i} >> 1u])[${i} & 1u]` : `${arr}[${i}]`;
  const bufs = [
    'var<storage, read> dy: array<GT>;',
    'var<storage, read> wq: array<u32>;',
    `var<storage, read> sc: array<${st}>;`,
    ...(scheme === 'asym' ? [`var<storage, read> mn: array<${st}>;`] : []),
    'var<storage, read_write> dx: array<GT>;',
    'var<uniform> p: P;',
  ];
  return `${wgslTypes({ GT: gDtype })}
struct P { M: u32, N: u32, K: u32, words: u32, groups: u32, G: u32 }
${bufs.map((v, k) => `@group(0) @binding(${k}) ${v}`).join('\n')}

// ŵ[n, k] for the nibble q of group g.
fn wval(q: f32, g: u32) -> f32 {
  return ${scheme === 'sym' ? `(q - 8.0) * ${rd('sc', 'g')}` : `q * ${rd('sc', 'g')} + ${rd('mn', 'g')}`};
}

@compute @workgroup_size(${WG})
fn matmul_q4_backward_dx(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.M * p.K) { return; }
  let m = i / p.K;
  let k = i % p.K;
  let word = k >> 3u;
  let shift = 4u * (k & 7u);
  let grp = k / p.G;
  var acc = 0.0;
  for (var n = 0u; n < p.N; n++) {
    let q = f32((wq[n * p.words + word] >> shift) & 15u);
    acc += f32(dy[m * p.N + n]) * wval(q, n * p.groups + grp);
  }
  dx[i] = GT(acc);
}`;
}

/** dX = dY·ŵ for a 4-bit weight w [N, K]: dY [..., N] → dX [..., K] in dY's dtype. */
export function matmulQ4BackwardInput(ctx: GpuContext, dY: Tensor, w: QTensor): Tensor {
  const [M, N] = rowsOf('matmulQ4BackwardInput', dY);
  const L = layoutOf(w);
  if (L.N !== N) throw new Error(`matmulQ4BackwardInput.w: expected ${N} rows, got ${L.N}`);
  if (dY.dtype === 'f16' && !ctx.summary.f16)
    throw new Error(
      'matmul_q4_backward_dx: f16 tensors need the shader-f16 feature, which this adapter lacks',
    );
  const dX = ctx.empty([...dY.shape.slice(0, -1), L.K], dY.dtype);
  const entry = 'matmul_q4_backward_dx';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`${entry}|${dY.dtype}|${L.scheme}|${L.scaleDtype}`, () =>
        q4Shader(dY.dtype, L.scheme, L.scaleDtype),
      ),
      entry,
    ),
    bindings: [dY, w.packed, w.scales, ...(w.mins ? [w.mins] : []), dX],
    uniforms: { u32: [M, N, L.K, L.words, L.groups, L.groupSize] },
    workgroups: grid(Math.ceil(dX.size / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return dX;
}

/** CPU reference: plain loops, f64 accumulation. dY [M, N], x [M, K], w [N, K]. */
export function matmulBackwardCpu(
  dY: Float32Array,
  x: Float32Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
): { dX: Float32Array; dW: Float32Array; dB: Float32Array } {
  const dX = new Float32Array(M * K);
  const dW = new Float32Array(N * K);
  const dB = new Float32Array(N);
  for (let m = 0; m < M; m++)
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dY[m * N + n] * w[n * K + k];
      dX[m * K + k] = s;
    }
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dY[m * N + n] * x[m * K + k];
      dW[n * K + k] = s;
    }
    let s = 0;
    for (let m = 0; m < M; m++) s += dY[m * N + n];
    dB[n] = s;
  }
  return { dX, dW, dB };
}
