import { type GpuContext, grid, type Variant, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { Tensor } from '../../tensor';
import {
  chunkBody,
  chunksOf,
  type Float,
  type Q4KernelCfg,
  type Q4Problem,
  q4Bindings,
  q4Constants,
  q4Header,
  q4UniformValues,
  rmsInvQ4,
  scalesPerVec,
  xLoads,
} from './q4-wgsl';

/**
 * Q4 GEMV for decode (M ≤ GEMV_MAX_M rows of x): every weight is read once for all M rows.
 * Kernels (entry points `q4_gemv_<kind>`), each over (split-K slice, weight row):
 * - thread: one thread walks TR = 8 whole rows (slices), so each x load serves 8 rows (measured 2–4× faster
 *   than one row per thread on lavapipe and SwiftShader). No barriers, no subgroups: software adapters.
 * - subgroup: one subgroup per row, lanes take interleaved 32-k chunks (one vec4<u32> load each), then
 *   subgroupAdd. Barrier-free. Rows per workgroup R = WG / smallest subgroup size; a subgroup loops over
 *   R / (number of subgroups) rows, so any subgroup size the driver picks is covered. Subgroup k of a
 *   workgroup is taken to be invocations k·sg … k·sg + sg − 1 (as Vulkan, Metal and D3D12 lay out 1-D
 *   workgroups), unless WGSL's subgroup_id builtin is available.
 * - workgroup: one 64-thread workgroup per row with a shared-memory tree reduction (real GPUs without
 *   subgroups).
 * Split-K: with S > 1 slices each writes f32 partials [S, M, N]; q4_splitk_reduce sums them, adds the bias
 * and casts. Used when N is small next to the GPU's width (never on software adapters).
 */
export type GemvKind = 'thread' | 'subgroup' | 'workgroup';

const WG = 64;
const TR = 8; // weight rows per thread in the 'thread' kernel

/**
 * Fusions (cfg): norm 'ss' — x is multiplied by γ on load and each thread/subgroup/workgroup also sums x²
 * over the whole row (no split-K), so 1/rms = inverseSqrt(Σx²/K + eps) scales its sums before the store;
 * norm 'inv' (split-K) — x·γ·inv[m] on load, inv from the rmsInvQ4 pre-pass. pair (siluMulHalves, no
 * split-K) — weight rows n (gate) and n + N/2 (up) are walked together and y[m, n] = silu(g)·u; with split-K
 * the partials of all N rows are written and the reduce kernel applies the epilogue.
 */

/** WGSL: the output-row count NO (N/2 in pair mode) and the store of accumulators for output row n. */
function outRows(c: Q4KernelCfg): string {
  return c.pair ? 'let NO = p.N / 2u;' : 'let NO = p.N;';
}
function invLine(c: Q4KernelCfg, ss: string): string {
  return c.norm === 'ss' ? `let inv = inverseSqrt(${ss} / f32(p.K) + p.eps);` : '';
}
function storeRow(c: Q4KernelCfg, accs: string[], n: string): string {
  const sc = (a: string) => (c.norm === 'ss' ? `${a}[m] * inv[m]` : `${a}[m]`);
  const v = c.pair
    ? `y[m * NO + ${n}] = Y(silu(${sc(accs[0])}) * ${sc(accs[1])});`
    : c.residual && c.out === 'y'
      ? `let i = m * p.N + ${n}; y[i] = Y(f32(y[i]) + ${sc(accs[0])});`
      : `y[(sp * p.M + m) * p.N + ${n}] = fin(${sc(accs[0])}, ${n});`;
  return `for (var m = 0u; m < p.M; m++) { ${v} }`;
}

/**
 * Per-problem specializations of the GEMV shaders. `single` (M = 1, decode): the x row index is the
 * constant 0 — the thread kernel keeps one scalar accumulator per row, and the subgroup and workgroup
 * kernels index their vec4 accumulators at compile time (indexed by a loop variable, a GPU may keep
 * them in local memory). `sv` > 0 (thread kernel): the scales (and mins) of sv groups load as one vec4
 * (needs groups % sv = 0 and no split). On software adapters the cost tracks the words loaded from
 * addresses that differ between invocations: per 32-k chunk of a row, 4 words of nibbles and (f16,
 * asym) 2 scale words, or 1 with the vec4 loads. Measured 1×2048×2048: 2.16 → 1.84 ms on lavapipe,
 * 19.6 → 15.9 ms on SwiftShader (medians of 9 interleaved runs against the previous kernel).
 */
interface GemvShape {
  single: boolean;
  sv: number;
}

function threadShader(c: Q4KernelCfg, t: GemvShape): string {
  const ssOn = c.norm === 'ss';
  const R = TR;
  const OR = c.pair ? R / 2 : R; // outputs per thread
  const rr = Array.from({ length: R }, (_, r) => r);
  const per = (f: (r: number) => string, sep = '\n    ', list = rr) => list.map(f).join(sep);
  const row = (r: number) => (r < OR ? `min(nb0 + ${r}u, NO - 1u)` : `min(nb0 + ${r - OR}u, NO - 1u) + NO`);
  const dots = (r: number) =>
    ['x', 'y', 'z', 'w']
      .map((e, i) => `dot(x${2 * i}, qlo(w${r}.${e})) + dot(x${2 * i + 1}, qhi(w${r}.${e}))`)
      .join(' + ');
  const x = xLoads('k4', ssOn ? 'ss' : null);
  const outs = rr.slice(0, OR);
  const acc = (r: number) => (t.single ? `a${r}.x` : `a${r}[m]`);
  const rowsLoop = (body: string) =>
    t.single
      ? `{ let m = 0u;\n      ${body}\n    }`
      : `for (var m = 0u; m < p.M; m++) {\n      ${body}\n    }`;
  // One chunk c (k4 = 8c) of every row, given WGSL lines binding w<r>, s<r> and b<r>.
  const chunk = (loads: (r: number) => string) => `let k4 = 8u * c;
    ${per(loads)}
    ${x.pre}
    ${rowsLoop(`${x.body}
      let xs = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, vec4<f32>(1.0));
      ${per((r) => `${acc(r)} += s${r} * (${dots(r)}) + b${r} * xs;`, '\n      ')}`)}`;
  const w = (r: number) => `let w${r} = wq[n${r} * p.CPR + c];`;
  const loop = t.sv
    ? `for (var g0 = 0u; g0 < p.NG; g0 += ${t.sv}u) {
    ${per((r) => `let sv${r} = sc[(n${r} * p.NG + g0) / ${t.sv}u];${c.scheme === 'asym' ? ` let mv${r} = mn[(n${r} * p.NG + g0) / ${t.sv}u];` : ''}`)}
    for (var c = g0 * CPG; c < min((g0 + ${t.sv}u) * CPG, c1); c++) {
    let gi = c / CPG - g0;
    ${chunk((r) => `${w(r)} let s${r} = pick(sv${r}, gi); let b${r} = ${c.scheme === 'asym' ? `pick(mv${r}, gi)` : `-8.0 * s${r}`};`)}
    }
  }`
    : `for (var c = c0; c < c1; c++) {
    let grp = c / CPG;
    ${chunk((r) => `${w(r)} let s${r} = scale(n${r} * p.NG + grp); let b${r} = offs(n${r} * p.NG + grp, s${r});`)}
  }`;
  return `${q4Header(c, t.sv > 0)}
@compute @workgroup_size(${WG})
fn q4_gemv_thread(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let id = g.y * nw.x * ${WG}u + g.x;
  ${outRows(c)}
  let NB = (NO + ${OR - 1}u) / ${OR}u;
  let nb0 = (id % NB) * ${OR}u;
  let sp = id / NB;
  ${slice}
  if (sp >= S) { return; }
  ${per((r) => `let n${r} = ${row(r)}; var a${r} = vec4<f32>();`, '\n  ')}
  ${ssOn ? 'var ss = vec4<f32>();' : ''}
  ${loop}
  ${invLine(c, 'ss')}
  ${per((r) => `if (nb0 + ${r}u < NO) { ${storeRow(c, c.pair ? [`a${r}`, `a${r + OR}`] : [`a${r}`], `n${r}`)} }`, '\n  ', outs)}
}`;
}

const slice = `let S = (p.CK + p.CPS - 1u) / p.CPS;
  let c0 = sp * p.CPS;
  let c1 = min(c0 + p.CPS, p.CK);`;

function gemvShader(
  kind: Exclude<GemvKind, 'thread'>,
  c: Q4KernelCfg,
  wg: number,
  rows: number,
  sgId: boolean,
  single: boolean,
): string {
  const ssOn = c.norm === 'ss';
  const rowsOf = c.pair ? ['n', '(n + NO)'] : ['n'];
  const accs = rowsOf.map((_, j) => `acc${j}`);
  const all = ssOn ? [...accs, 'ss'] : accs;
  const decl = all.map((a) => `var ${a} = vec4<f32>();`).join(' ');
  const body = chunkBody(rowsOf, 'c', accs, ssOn ? 'ss' : null, single);
  if (kind === 'subgroup') {
    const ids = sgId
      ? '@builtin(subgroup_id) sub: u32, @builtin(num_subgroups) nsub: u32'
      : '@builtin(local_invocation_index) lid: u32';
    return `enable subgroups;
diagnostic(off, subgroup_uniformity);
${q4Header(c)}
@compute @workgroup_size(${wg})
fn q4_gemv_subgroup(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, ${ids},
                    @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgs: u32) {
  ${sgId ? '' : `let sub = lid / sgs;\n  let nsub = ${wg}u / sgs;`}
  ${outRows(c)}
  let nb = (NO + ${rows - 1}u) / ${rows}u;
  let w = wid.y * nw.x + wid.x;
  let sp = w / nb;
  let r0 = (w % nb) * ${rows}u;
  ${slice}
  if (sp >= S) { return; }
  let r1 = min(r0 + ${rows}u, NO);
  for (var n = r0 + sub; n < r1; n += nsub) {
    ${decl}
    for (var c = c0 + lane; c < c1; c += sgs) ${body}
    ${all.map((a) => `${a} = subgroupAdd(${a});`).join(' ')}
    if (lane == 0u) {
      ${invLine(c, 'ss')}
      ${storeRow(c, accs, 'n')}
    }
  }
}`;
  }
  const NA = all.length;
  const red = all.map((_, a) => `part[${a * WG}u + l] += part[${a * WG}u + l + s];`).join(' ');
  return `${q4Header(c)}
var<workgroup> part: array<vec4<f32>, ${WG * NA}>;
@compute @workgroup_size(${WG})
fn q4_gemv_workgroup(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u,
                     @builtin(local_invocation_index) l: u32) {
  ${outRows(c)}
  let w = wid.y * nw.x + wid.x;
  let n = w % NO;
  let sp = w / NO;
  ${slice}
  if (sp >= S) { return; }
  ${decl}
  for (var c = c0 + l; c < c1; c += ${WG}u) ${body}
  ${all.map((a, i) => `part[${i * WG}u + l] = ${a};`).join(' ')}
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l < s) { ${red} }
    workgroupBarrier();
  }
  if (l == 0u) {
    ${all.map((a, i) => `let ${a}r = part[${i * WG}u];`).join(' ')}
    ${c.norm === 'ss' ? invLine(c, 'ssr') : ''}
    ${storeRow(
      c,
      accs.map((a) => `${a}r`),
      'n',
    )}
  }
}`;
}

/** Sums split-K partials [S, M, N] into y (dtype yd); adds the bias, or applies the pair epilogue (N = 2·NO). */
function reduceShader(yd: Float, bias: Float | null, pair: boolean, residual: boolean): string {
  const sum = (off: string) => `var ${off} = 0.0;
  for (var s = 0u; s < p.S; s++) { ${off} += part[s * PN + j${off === 'u' ? ' + p.N' : ''}]; }`;
  const out = pair
    ? `let m = i / p.N;
  let j = m * 2u * p.N + i % p.N;
  let PN = 2u * p.MN;
  ${sum('g')}
  ${sum('u')}
  y[i] = A(silu(g) * u);`
    : `let j = i;
  let PN = p.MN;
  ${sum('v')}
  y[i] = A(v${bias ? ' + f32(bias[i % p.N])' : ''}${residual ? ' + f32(y[i])' : ''});`;
  return `${wgslTypes(bias ? { A: yd, B: bias } : { A: yd })}
struct R { MN: u32, N: u32, S: u32 }
@group(0) @binding(0) var<storage, read> part: array<f32>;
${bias ? '@group(0) @binding(1) var<storage, read> bias: array<B>;' : ''}
@group(0) @binding(${bias ? 2 : 1}) var<storage, read_write> y: array<A>;
@group(0) @binding(${bias ? 3 : 2}) var<uniform> p: R;
fn silu(g: f32) -> f32 { return g / (1.0 + exp(clamp(-g, -88.0, 88.0))); }
@compute @workgroup_size(${WG})
fn q4_splitk_reduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.y * nw.x * ${WG}u + gid.x;
  if (i >= p.MN) { return; }
  ${out}
}`;
}

/** Whether WGSL's subgroup_id / num_subgroups builtins exist here (they make no layout assumption). */
function hasSubgroupId(): boolean {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  return gpu?.wgslLanguageFeatures?.has('subgroup_id') ?? false;
}

export interface GemvOptions {
  kind: GemvKind;
  /** Split-K slices (1 = none). */
  splitK: number;
  /** Use the subgroup_id builtin (default: when the WGSL language feature is reported). */
  subgroupId?: boolean;
  /** For the norm pre-pass under split-K (default ctx.variant). */
  variant?: Variant;
}

/** Chunks per slice and number of slices for CK chunks cut into (at most) `splitK` slices. */
export function splitSlices(CK: number, splitK: number): { cps: number; S: number } {
  const cps = Math.ceil(CK / Math.max(1, Math.min(splitK, CK)));
  return { cps, S: Math.ceil(CK / cps) };
}

/**
 * Records the GEMV for a validated problem into y [M, N] (y [M, N/2] with pr.cfg.pair). pr.cfg.norm
 * 'none' or 'ss' (a fused RMSNorm): 'ss' becomes 'inv' with a pre-pass when the GEMV is split.
 */
export function gemvQ4(ctx: GpuContext, pr: Q4Problem, y: Tensor, opts: GemvOptions): void {
  const { M, N } = pr;
  const { cps, S } = splitSlices(chunksOf(pr), opts.splitK);
  const split = S > 1;
  if (pr.cfg.norm === 'inv') throw new Error("gemvQ4: pass norm 'ss'; the split decides");
  const norm = pr.cfg.norm === 'none' ? 'none' : split ? 'inv' : 'ss';
  const inv = norm === 'inv' ? rmsInvQ4(ctx, pr, opts.variant ?? ctx.variant) : null;
  const pp: Q4Problem = inv ? { ...pr, inv } : pr;
  const cfg: Q4KernelCfg = { ...pr.cfg, out: split ? 'partial' : 'y', norm, pair: pr.cfg.pair && !split };
  const out = split ? ctx.empty([S, M, N], 'f32', 'q4.partial') : y;
  const sg = ctx.summary;
  const wg = Math.min(256, Math.max(WG, sg.subgroupMaxSize));
  const rows = Math.max(1, Math.floor(wg / Math.max(1, sg.subgroupMinSize || 4)));
  const sgId = opts.subgroupId ?? hasSubgroupId();
  const entry = `q4_gemv_${opts.kind}`;
  const NO = cfg.pair ? N / 2 : N;
  let workgroups: number;
  if (opts.kind === 'thread') workgroups = Math.ceil((Math.ceil(NO / (cfg.pair ? TR / 2 : TR)) * S) / WG);
  else if (opts.kind === 'subgroup') workgroups = Math.ceil(NO / rows) * S;
  else workgroups = NO * S;
  const sv = scalesPerVec(cfg.scale);
  const shape: GemvShape = { single: M === 1, sv: !split && pr.L.groups % sv === 0 ? sv : 0 };
  const kind = opts.kind;
  const code =
    kind === 'thread'
      ? memoShader(`q4_gemv_thread|${JSON.stringify(cfg)}|${shape.single}|${shape.sv}`, () =>
          threadShader(cfg, shape),
        )
      : memoShader(`q4_gemv|${kind}|${JSON.stringify(cfg)}|${wg}|${rows}|${sgId}|${shape.single}`, () =>
          gemvShader(kind, cfg, wg, rows, sgId, shape.single),
        );
  ctx.dispatch({
    pipeline: ctx.pipeline(code, entry, q4Constants(pr)),
    bindings: q4Bindings(pp, out, cfg),
    uniforms: q4UniformValues(pr, cps),
    workgroups: grid(workgroups, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  if (inv) ctx.release(inv);
  if (!split) return;
  const pair = pr.cfg.pair;
  const bias = pr.bias && !pair ? pr.bias : null;
  const red = 'q4_splitk_reduce';
  const NY = pair ? N / 2 : N;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`q4_reduce|${pr.cfg.ydt}|${bias ? pr.cfg.bias : null}|${pair}|${pr.cfg.residual}`, () =>
        reduceShader(pr.cfg.ydt, bias ? pr.cfg.bias : null, pair, pr.cfg.residual),
      ),
      red,
    ),
    bindings: bias ? [out, bias, y] : [out, y],
    uniforms: { u32: [M * NY, NY, S] },
    workgroups: grid(Math.ceil((M * NY) / WG), ctx.maxWorkgroupsPerDim),
    label: red,
  });
  ctx.release(out);
}
