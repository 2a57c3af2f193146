import { type GpuContext, grid, wgslTypes } from '../../context';
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
  q4Uniforms,
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

function gemvShader(kind: GemvKind, c: Q4KernelCfg, wg: number, rows: number, sgId: boolean): string {
  const store = (v: string, n: string) =>
    `for (var m = 0u; m < p.M; m++) { y[(sp * p.M + m) * p.N + ${n}] = fin(${v}[m], ${n}); }`;
  const slice = `let S = (p.CK + p.CPS - 1u) / p.CPS;
  let c0 = sp * p.CPS;
  let c1 = min(c0 + p.CPS, p.CK);`;
  if (kind === 'thread') {
    const R = TR;
    const rr = Array.from({ length: R }, (_, r) => r);
    const per = (f: (r: number) => string, sep = '\n    ') => rr.map(f).join(sep);
    const dots = (r: number) =>
      ['x', 'y', 'z', 'w']
        .map((e, t) => `dot(x${2 * t}, qlo(w${r}.${e})) + dot(x${2 * t + 1}, qhi(w${r}.${e}))`)
        .join(' + ');
    return `${q4Header(c)}
@compute @workgroup_size(${WG})
fn q4_gemv_thread(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let id = g.y * nw.x * ${WG}u + g.x;
  let NB = (p.N + ${R - 1}u) / ${R}u;
  let nb0 = (id % NB) * ${R}u;
  let sp = id / NB;
  ${slice}
  if (sp >= S) { return; }
  ${per((r) => `let n${r} = min(nb0 + ${r}u, p.N - 1u); var a${r} = vec4<f32>();`, '\n  ')}
  for (var c = c0; c < c1; c++) {
    let k4 = 8u * c;
    let grp = c / CPG;
    ${per((r) => `let w${r} = wq[n${r} * p.CPR + c]; let s${r} = scale(n${r} * p.NG + grp); let b${r} = offs(n${r} * p.NG + grp, s${r});`)}
    for (var m = 0u; m < p.M; m++) {
      ${Array.from({ length: 8 }, (_, t) => `let x${t} = xv(m, k4 + ${t}u);`).join(' ')}
      let xs = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, vec4<f32>(1.0));
      ${per((r) => `a${r}[m] += s${r} * (${dots(r)}) + b${r} * xs;`, '\n      ')}
    }
  }
  ${per((r) => `if (nb0 + ${r}u < p.N) { ${store(`a${r}`, `n${r}`)} }`, '\n  ')}
}`;
  }
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
  let nb = (p.N + ${rows - 1}u) / ${rows}u;
  let w = wid.y * nw.x + wid.x;
  let sp = w / nb;
  let r0 = (w % nb) * ${rows}u;
  ${slice}
  if (sp >= S) { return; }
  let r1 = min(r0 + ${rows}u, p.N);
  for (var n = r0 + sub; n < r1; n += nsub) {
    var acc = vec4<f32>();
    for (var c = c0 + lane; c < c1; c += sgs) ${chunkBody('n', 'c', 'acc')}
    acc = subgroupAdd(acc);
    if (lane == 0u) {
    ${store('acc', 'n')}
    }
  }
}`;
  }
  return `${q4Header(c)}
var<workgroup> part: array<vec4<f32>, ${WG}>;
@compute @workgroup_size(${WG})
fn q4_gemv_workgroup(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u,
                     @builtin(local_invocation_index) l: u32) {
  let w = wid.y * nw.x + wid.x;
  let n = w % p.N;
  let sp = w / p.N;
  ${slice}
  if (sp >= S) { return; }
  var acc = vec4<f32>();
  for (var c = c0 + l; c < c1; c += ${WG}u) ${chunkBody('n', 'c', 'acc')}
  part[l] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (l < s) { part[l] += part[l + s]; }
    workgroupBarrier();
  }
  if (l == 0u) {
    let r = part[0];
    ${store('r', 'n')}
  }
}`;
}

function reduceShader(act: Float, bias: Float | null): string {
  return `${wgslTypes(bias ? { A: act, B: bias } : { A: act })}
struct R { MN: u32, N: u32, S: u32 }
@group(0) @binding(0) var<storage, read> part: array<f32>;
${bias ? '@group(0) @binding(1) var<storage, read> bias: array<B>;' : ''}
@group(0) @binding(${bias ? 2 : 1}) var<storage, read_write> y: array<A>;
@group(0) @binding(${bias ? 3 : 2}) var<uniform> p: R;
@compute @workgroup_size(${WG})
fn q4_splitk_reduce(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.MN) { return; }
  var v = 0.0;
  for (var s = 0u; s < p.S; s++) { v += part[s * p.MN + i]; }
  y[i] = A(v${bias ? ' + f32(bias[i % p.N])' : ''});
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
}

/** Records the GEMV for a validated problem into y [M, N]. */
export function gemvQ4(ctx: GpuContext, pr: Q4Problem, y: Tensor, opts: GemvOptions): void {
  const { M, N } = pr;
  const CK = chunksOf(pr);
  const cps = Math.ceil(CK / Math.max(1, Math.min(opts.splitK, CK)));
  const S = Math.ceil(CK / cps);
  const cfg: Q4KernelCfg = { ...pr.cfg, out: S > 1 ? 'partial' : 'y' };
  const out = S > 1 ? ctx.empty([S, M, N], 'f32', 'q4.partial') : y;
  const sg = ctx.summary;
  const wg = Math.min(256, Math.max(WG, sg.subgroupMaxSize));
  const rows = Math.max(1, Math.floor(wg / Math.max(1, sg.subgroupMinSize || 4)));
  const sgId = opts.subgroupId ?? hasSubgroupId();
  const entry = `q4_gemv_${opts.kind}`;
  let workgroups: number;
  if (opts.kind === 'thread') workgroups = Math.ceil((Math.ceil(N / TR) * S) / WG);
  else if (opts.kind === 'subgroup') workgroups = Math.ceil(N / rows) * S;
  else workgroups = N * S;
  const code = gemvShader(opts.kind, cfg, wg, rows, sgId);
  ctx.dispatch({
    pipeline: ctx.pipeline(code, entry, q4Constants(pr)),
    bindings: q4Bindings(pr, out, cfg.out === 'y'),
    uniforms: { u32: q4Uniforms(pr, cps) },
    workgroups: grid(workgroups, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  if (S === 1) return;
  const red = 'q4_splitk_reduce';
  ctx.dispatch({
    pipeline: ctx.pipeline(reduceShader(pr.cfg.act, pr.bias ? pr.cfg.bias : null), red),
    bindings: pr.bias ? [out, pr.bias, y] : [out, y],
    uniforms: { u32: [M * N, N, S] },
    workgroups: grid(Math.ceil((M * N) / WG), ctx.maxWorkgroupsPerDim),
    label: red,
  });
  ctx.release(out);
}
