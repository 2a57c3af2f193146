import { type GpuContext, grid, type Variant } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { Tensor } from '../../tensor';
import {
  type Q4KernelCfg,
  type Q4Problem,
  q4Bindings,
  q4Constants,
  q4Header,
  q4UniformValues,
} from './q4-wgsl';
import { flatTileOrigin, flatTileStore, range, siluPairStore, type TileStore, tiledStore } from './tile-wgsl';

/**
 * Q4 GEMM for prefill and batched decode (M > GEMV_MAX_M), f32 accumulation.
 * - flat (q4_gemm_flat): no barriers. Each thread owns TM rows × TN columns of y (GemmFlatTile, chosen
 *   by M) and walks K in 32-k chunks: per chunk it unpacks the TN weight rows' nibbles once and dots them
 *   with TM rows of x. Fast on software adapters.
 * - tiled (q4_gemm_tiled): a 64 × 64 tile of y per 16 × 16 workgroup; per 32-k chunk, x [64 m × 32 k] and
 *   the dequantized weights ŵ = q·s + b [64 n × 32 k] are staged in shared memory (16 KiB, the WebGPU
 *   default limit), then each thread accumulates 4 × 4 outputs. For real GPUs.
 * Rows and columns past the edge are clamped on load and skipped on store.
 * A fused RMSNorm arrives as cfg.norm 'inv' (x loads return x·γ·inv[m]). cfg.pair (siluMulHalves): a
 * tile's columns are half gate rows n and half the up rows n + N/2 of the same outputs, so every thread
 * holds both factors of its outputs and stores y [M, N/2] = silu(gate)·up. cfg.residual: y += x·Ŵᵀ.
 */
/**
 * The flat kernel's thread tile: TM rows × TN columns of y per thread (TN a multiple of 4), WG threads
 * per workgroup. `form` 'raw': raw dots Σx·q per chunk, scaled once per chunk (s·Σxq + b·Σx); 'deq':
 * nibbles dequantized (q·s + b, one FMA per 4) and dotted straight into the accumulators (fewer live
 * registers, which software compilers spill).
 */
export interface GemmFlatTile {
  tm: number;
  tn: number;
  wg: number;
  form: 'raw' | 'deq';
}

/**
 * Measured (bench.ts, 'flat tiles' case) on SwiftShader and lavapipe: 16 × 16 'deq' is about 2× the old
 * 4 × 8 'raw' at prefill shapes (64×11008×2048). Larger tiles cut the per-thread x loads (gathers on
 * software adapters: 32 floats per row per chunk, vs 4 words per weight row) and the unpacking per FMA.
 * Below 32 rows, 8 × 16 wastes fewer clamped rows.
 */
const FLAT_BIG: GemmFlatTile = { tm: 16, tn: 16, wg: 64, form: 'deq' };
const FLAT_SMALL: GemmFlatTile = { tm: 8, tn: 16, wg: 64, form: 'deq' };
let flatOverride: GemmFlatTile | null = null;

/** Forces the flat kernel's tile (benchmarks and tests of other tiles); null restores the default. */
export function setGemmFlatTile(t: GemmFlatTile | null): void {
  if (t && !(t.tm >= 1 && t.tn >= 4 && t.tn % 4 === 0 && t.wg >= 1))
    throw new Error(`gemmQ4: bad flat tile ${JSON.stringify(t)}`);
  flatOverride = t;
}

/** The flat tile used for a problem: the override, else the measured default. */
export function gemmFlatTile(pr: Q4Problem): GemmFlatTile {
  return flatOverride ?? (pr.M >= 32 ? FLAT_BIG : FLAT_SMALL);
}

const TILE = 64;

/** The store of one output: through fin (bias, cast), added to y (residual), or silu(gate)·up (pair). */
const storeOf = (c: Q4KernelCfg): TileStore | undefined =>
  c.pair ? siluPairStore : c.residual ? (i, v) => `y[${i}] = Y(f32(y[${i}]) + ${v});` : undefined;

function flatShader(c: Q4KernelCfg, tile: GemmFlatTile): string {
  const { tm: TM, tn: TN, wg: WG, form } = tile;
  const NV = TN / 4;
  const I = range(TM);
  const J = range(TN);
  const V = range(NV);
  const raw = form === 'raw';
  const per = (f: (i: number) => string, n: number[], sep = '\n    ') => n.map(f).join(sep);
  // Per 8-k step t of a chunk (a loop, not unrolled: software compilers stay quick): x loads (2 vec4 per
  // row), nibbles (2 vec4 per column; 'deq': dequantized), dots.
  const nib = raw
    ? (j: number) => `let lo${j} = qlo(w${j}[t]); let hi${j} = qhi(w${j}[t]);`
    : (j: number) =>
        `let lo${j} = qlo(w${j}[t]) * s${j >> 2}[${j & 3}] + b${j >> 2}[${j & 3}]; ` +
        `let hi${j} = qhi(w${j}[t]) * s${j >> 2}[${j & 3}] + b${j >> 2}[${j & 3}];`;
  const step = `{
      ${per((i) => `let xa${i} = xv(xr${i}, 8u * c + 2u * t); let xb${i} = xv(xr${i}, 8u * c + 2u * t + 1u);`, I, '\n      ')}
      ${raw ? per((i) => `xs${i} += dot(xa${i} + xb${i}, vec4<f32>(1.0));`, I, ' ') : ''}
      ${raw ? per(nib, J, '\n      ') : ''}
      ${
        raw
          ? I.flatMap((i) =>
              V.map((v) => {
                const dots = range(4).map((q) => `dot(xa${i}, lo${4 * v + q}) + dot(xb${i}, hi${4 * v + q})`);
                return `d${i}_${v} += vec4<f32>(${dots.join(', ')});`;
              }),
            ).join('\n      ')
          : // Column by column: only one column's nibbles are live at a time.
            J.map(
              (j) =>
                `${nib(j)}\n      ` +
                I.map((i) => `c${i}_${j >> 2}[${j & 3}] += dot(xa${i}, lo${j}) + dot(xb${i}, hi${j});`).join(
                  ' ',
                ),
            ).join('\n      ')
      }
    }`;
  // pair: columns j < H are gate rows n0 + j, the rest the up rows NO + n0 + j − H.
  const H = TN / 2;
  const wrow = (j: number) =>
    !c.pair
      ? `min(n0 + ${j}u, p.N - 1u)`
      : j < H
        ? `min(n0 + ${j}u, NO - 1u)`
        : `min(n0 + ${j - H}u, NO - 1u) + NO`;
  return `${q4Header(c)}
@compute @workgroup_size(${WG})
fn q4_gemm_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${c.pair ? `let NO = p.N / 2u;\n  ${flatTileOrigin(WG, TM, H, 'NO')}` : flatTileOrigin(WG, TM, TN)}
  ${per((i) => `let xr${i} = min(m0 + ${i}u, p.M - 1u);`, I, '\n  ')}
  ${per((j) => `let wr${j} = ${wrow(j)};`, J, '\n  ')}
  ${I.flatMap((i) => V.map((v) => `var c${i}_${v} = vec4<f32>();`)).join(' ')}
  for (var c = 0u; c < p.CK; c++) {
    let grp = c / CPG;
    ${per((j) => `let w${j} = wq[wr${j} * p.CPR + c];`, J)}
    ${V.map((v) => {
      const s = range(4).map((q) => `scale(wr${4 * v + q} * p.NG + grp)`);
      const b = range(4).map((q) => `offs(wr${4 * v + q} * p.NG + grp, s${v}[${q}])`);
      return `let s${v} = vec4<f32>(${s.join(', ')});\n    let b${v} = vec4<f32>(${b.join(', ')});`;
    }).join('\n    ')}
    ${raw ? per((i) => `var xs${i} = 0.0;`, I, ' ') : ''}
    ${raw ? I.flatMap((i) => V.map((v) => `var d${i}_${v} = vec4<f32>();`)).join(' ') : ''}
    for (var t = 0u; t < 4u; t++) ${step}
    ${raw ? I.flatMap((i) => V.map((v) => `c${i}_${v} += s${v} * d${i}_${v} + b${v} * xs${i};`)).join('\n    ') : ''}
  }
  ${flatTileStore(TM, TN, storeOf(c), c.pair)}
}`;
}

function tiledShader(c: Q4KernelCfg): string {
  const T = TILE;
  const S = T / 16;
  const acc = range(S).map((i) => `var c${i} = vec4<f32>();`);
  const fma = range(S).map((i) => `c${i} += xt[kk * ${T}u + l.y + ${16 * i}u] * b;`);
  const bload = range(S).map((j) => `wt[kk * ${T}u + l.x + ${16 * j}u]`);
  // pair: weight-tile columns < T/2 are gate rows nt + col, the rest the up rows NO + nt + col − T/2,
  // so thread column j < S/2 (n0 + 16j) has its partner at j + S/2.
  return `${q4Header(c)}
var<workgroup> xt: array<f32, ${32 * T}>; // [k][m]
var<workgroup> wt: array<f32, ${32 * T}>; // [k][n]
@compute @workgroup_size(16, 16)
fn q4_gemm_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let mt = wid.y * ${T}u;
  ${c.pair ? `let NO = p.N / 2u;\n  let nt = wid.x * ${T / 2}u;` : `let nt = wid.x * ${T}u;`}
  let lid = l.y * 16u + l.x;
  ${acc.join('\n  ')}
  // Staging: thread lid loads x row lid % 64 (k4 = lid / 64 and + 4) and packed word lid / 64 of weight row
  // lid % 64; consecutive threads take consecutive rows, so shared-memory stores don't conflict.
  let row = lid % ${T}u;
  let part = lid / ${T}u;
  let xr = min(mt + row, p.M - 1u);
  let wr = ${c.pair ? `select(min(nt + row - ${T / 2}u, NO - 1u) + NO, min(nt + row, NO - 1u), row < ${T / 2}u)` : 'min(nt + row, p.N - 1u)'};
  for (var c = 0u; c < p.CK; c++) {
    for (var h = 0u; h < 2u; h++) {
      let k4 = part + 4u * h;
      let v = xv(xr, 8u * c + k4);
      for (var e = 0u; e < 4u; e++) { xt[(4u * k4 + e) * ${T}u + row] = v[e]; }
    }
    let gi = wr * p.NG + c / CPG;
    let s = scale(gi);
    let bo = offs(gi, s);
    let u = wq[wr * p.CPR + c][part];
    let lo = qlo(u) * s + bo;
    let hi = qhi(u) * s + bo;
    for (var e = 0u; e < 4u; e++) {
      wt[(8u * part + e) * ${T}u + row] = lo[e];
      wt[(8u * part + 4u + e) * ${T}u + row] = hi[e];
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 32u; kk++) {
      let b = vec4<f32>(${bload.join(', ')});
      ${fma.join('\n      ')}
    }
    workgroupBarrier();
  }
  let m0 = mt + l.y;
  let n0 = nt + l.x;
  ${tiledStore(S, storeOf(c), c.pair)}
}`;
}

/** Records the GEMM for a validated problem into y [M, N] (y [M, N/2] with cfg.pair). */
export function gemmQ4(ctx: GpuContext, pr: Q4Problem, y: Tensor, variant: Variant): void {
  const { M, N } = pr;
  const entry = `q4_gemm_${variant}`;
  const tile = gemmFlatTile(pr);
  const key = variant === 'flat' ? `${variant}|${tile.tm}|${tile.tn}|${tile.wg}|${tile.form}` : variant;
  const code = memoShader(`q4_gemm|${key}|${JSON.stringify(pr.cfg)}`, () =>
    variant === 'flat' ? flatShader(pr.cfg, tile) : tiledShader(pr.cfg),
  );
  // Output columns per tile: half the weight rows with the pair epilogue.
  const NO = pr.cfg.pair ? N / 2 : N;
  const cols = (w: number) => (pr.cfg.pair ? w / 2 : w);
  const workgroups: [number, number] =
    variant === 'flat'
      ? grid(
          Math.ceil((Math.ceil(M / tile.tm) * Math.ceil(NO / cols(tile.tn))) / tile.wg),
          ctx.maxWorkgroupsPerDim,
        )
      : [Math.ceil(NO / cols(TILE)), Math.ceil(M / TILE)];
  ctx.dispatch({
    pipeline: ctx.pipeline(code, entry, q4Constants(pr)),
    bindings: q4Bindings(pr, y),
    uniforms: q4UniformValues(pr, 0),
    workgroups,
    label: entry,
  });
}
