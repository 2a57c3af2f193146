import { type GpuContext, grid, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import { assertDtype, assertShape, type DType, fmt, type Tensor } from '../../tensor';
import { NEG } from './common';
import type { AttentionCpuDims } from './cpu';

/**
 * Backward of attention (attention.ts) for training: causal or full, GQA, an optional batch, qOffset.
 * Shapes as the forward: q and dO [(B,) T, Hq, D]; k, v [(B,) S, Hkv, D]. With s_ij = scale·q_i·k_j over
 * the keys visible to query i, P = softmax(s), O = P·v:
 *   dP_ij = dO_i·v_j      Δ_i = Σ_j P_ij·dP_ij      dS_ij = P_ij·(dP_ij − Δ_i)
 *   dQ_i = scale·Σ_j dS_ij·k_j      dK_j = scale·Σ_{i, h in j's group} dS_ij·q_i      dV_j = Σ_{i, h} P_ij·dO_i
 * Three barrier-free dispatches, nothing atomic, every sum in a fixed order; P is recomputed from the
 * scores (never stored: memory stays O(T·Hq·D)):
 * - attention_backward_stats: one thread per query row (b, i, h) → lse_i = log Σ_j exp(s_ij) and Δ_i
 *   (from P and dP, so the forward's output is not needed), f32 [B·T·Hq, 2];
 * - attention_backward_dq: one thread per query row → dQ;
 * - attention_backward_dkdv: one thread per key row (b, j, kv head) looping over the queries that see it
 *   and the Hq/Hkv query heads of its group → dK, dV.
 * Math in f32 with private arrays of D floats; gradients take dO's dtype. Correctness over speed: a
 * key-row thread walks all T queries (O(T·S·Hq·D) work like the forward, but with few threads per
 * dispatch when S·Hkv is small).
 */
const WG = 64;
const MAX_HEAD_DIM = 256;

export interface AttentionBackwardOptions {
  causal: boolean;
  scale: number;
  /** Position of query row 0 among the S keys, as the forward's. */
  qOffset?: number;
}

type Kind = 'stats' | 'dq' | 'dkdv';

function shader(kind: Kind, qType: DType, kvType: DType, gType: DType, D: number): string {
  const outs = {
    stats: ['stats: array<f32>'],
    dq: ['dq: array<GT>'],
    dkdv: ['dk: array<GT>', 'dv: array<GT>'],
  }[kind];
  const bufs = [
    'var<storage, read> q: array<QT>;',
    'var<storage, read> k: array<KT>;',
    'var<storage, read> v: array<KT>;',
    'var<storage, read> dout: array<GT>;',
    ...(kind === 'stats' ? [] : ['var<storage, read> stats: array<f32>;']),
    ...outs.map((o) => `var<storage, read_write> ${o};`),
    'var<uniform> p: P;',
  ];
  const head = `${wgslTypes({ QT: qType, KT: kvType, GT: gType })}
struct P { B: u32, T: u32, S: u32, Hq: u32, Hkv: u32, qOffset: u32, causal: u32, scale: f32 }
${bufs.map((b, n) => `@group(0) @binding(${n}) ${b}`).join('\n')}
const D = ${D}u;

// Keys [0, keyEnd(i)) are visible to query i (causal: key j iff j ≤ qOffset + i).
fn keyEnd(i: u32) -> u32 {
  if (p.causal == 0u) { return p.S; }
  return u32(clamp(i32(p.qOffset) + i32(i) + 1, 0, i32(p.S)));
}
`;
  // Query-row kernels: row = (b·T + i)·Hq + h; qv = scale·q_i and go = dO_i in registers.
  const rowPrologue = `let row = g.y * n.x * ${WG}u + g.x;
  if (row >= p.B * p.T * p.Hq) { return; }
  let h = row % p.Hq;
  let i = (row / p.Hq) % p.T;
  let b = row / (p.Hq * p.T);
  let kh = h / (p.Hq / p.Hkv);
  let end = keyEnd(i);
  var qv: array<f32, D>;
  var go: array<f32, D>;
  for (var d = 0u; d < D; d++) { qv[d] = f32(q[row * D + d]) * p.scale; go[d] = f32(dout[row * D + d]); }`;
  const scoreAndDp = `let kb = ((b * p.S + j) * p.Hkv + kh) * D;
    var sc = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < D; d++) { sc += qv[d] * f32(k[kb + d]); dp += go[d] * f32(v[kb + d]); }`;
  const body = {
    stats: `${rowPrologue}
  var m = ${NEG};
  var l = 0.0;
  for (var j = 0u; j < end; j++) {
    let kb = ((b * p.S + j) * p.Hkv + kh) * D;
    var sc = 0.0;
    for (var d = 0u; d < D; d++) { sc += qv[d] * f32(k[kb + d]); }
    let mn = max(m, sc);
    l = l * exp(m - mn) + exp(sc - mn);
    m = mn;
  }
  let lse = select(0.0, m + log(l), l > 0.0);
  var delta = 0.0;
  for (var j = 0u; j < end; j++) {
    ${scoreAndDp}
    delta += exp(sc - lse) * dp;
  }
  stats[2u * row] = lse;
  stats[2u * row + 1u] = delta;`,
    dq: `${rowPrologue}
  let lse = stats[2u * row];
  let delta = stats[2u * row + 1u];
  var acc: array<f32, D>;
  for (var d = 0u; d < D; d++) { acc[d] = 0.0; }
  for (var j = 0u; j < end; j++) {
    ${scoreAndDp}
    let ds = exp(sc - lse) * (dp - delta);
    for (var d = 0u; d < D; d++) { acc[d] += ds * f32(k[kb + d]); }
  }
  for (var d = 0u; d < D; d++) { dq[row * D + d] = GT(acc[d] * p.scale); }`,
    dkdv: `let id = g.y * n.x * ${WG}u + g.x;
  if (id >= p.B * p.S * p.Hkv) { return; }
  let kh = id % p.Hkv;
  let j = (id / p.Hkv) % p.S;
  let b = id / (p.Hkv * p.S);
  let kb = id * D;
  var kr: array<f32, D>;
  var vr: array<f32, D>;
  var ak: array<f32, D>;
  var av: array<f32, D>;
  for (var d = 0u; d < D; d++) { kr[d] = f32(k[kb + d]); vr[d] = f32(v[kb + d]); ak[d] = 0.0; av[d] = 0.0; }
  let G = p.Hq / p.Hkv;
  for (var h = kh * G; h < kh * G + G; h++) {
    for (var i = 0u; i < p.T; i++) {
      if (j >= keyEnd(i)) { continue; }
      let row = (b * p.T + i) * p.Hq + h;
      var sc = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < D; d++) { sc += f32(q[row * D + d]) * kr[d]; dp += f32(dout[row * D + d]) * vr[d]; }
      let pij = exp(sc * p.scale - stats[2u * row]);
      let ds = pij * (dp - stats[2u * row + 1u]);
      for (var d = 0u; d < D; d++) { ak[d] += ds * f32(q[row * D + d]); av[d] += pij * f32(dout[row * D + d]); }
    }
  }
  for (var d = 0u; d < D; d++) { dk[kb + d] = GT(ak[d] * p.scale); dv[kb + d] = GT(av[d]); }`,
  }[kind];
  return `${head}
@compute @workgroup_size(${WG})
fn attention_backward_${kind}(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  ${body}
}`;
}

/**
 * Gradients of attention(q, k, v, opts) for upstream dO (the shape of q, f32 or f16): dQ, dK, dV in dO's
 * dtype, shaped as q, k and v.
 */
export function attentionBackward(
  ctx: GpuContext,
  dO: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionBackwardOptions,
): { dQ: Tensor; dK: Tensor; dV: Tensor } {
  const batched = q.shape.length === 4;
  if (!batched && q.shape.length !== 3)
    throw new Error(`attentionBackward.q: expected [(B,) T, Hq, D], got ${fmt(q.shape)}`);
  const [B, T, Hq, D] = batched ? q.shape : [1, ...q.shape];
  const S = k.shape[batched ? 1 : 0];
  const Hkv = k.shape[batched ? 2 : 1];
  const kvShape = batched ? [B, S, Hkv, D] : [S, Hkv, D];
  assertShape('attentionBackward.k', k, kvShape);
  assertShape('attentionBackward.v', v, kvShape);
  assertShape('attentionBackward.dO', dO, q.shape);
  assertDtype('attentionBackward.q', q, 'f32', 'f16');
  assertDtype('attentionBackward.k', k, 'f32', 'f16');
  assertDtype('attentionBackward.v', v, k.dtype);
  assertDtype('attentionBackward.dO', dO, 'f32', 'f16');
  if (Hq % Hkv !== 0) throw new Error(`attentionBackward: Hq=${Hq} is not a multiple of Hkv=${Hkv}`);
  if (D > MAX_HEAD_DIM) throw new Error(`attentionBackward: head dim ${D} > ${MAX_HEAD_DIM}`);
  const qOffset = opts.qOffset ?? 0;
  if (!Number.isInteger(qOffset) || qOffset < 0) throw new Error(`attentionBackward: qOffset ${qOffset}`);

  const stats = ctx.empty([B * T * Hq, 2], 'f32');
  const dQ = ctx.empty(q.shape, dO.dtype);
  const dK = ctx.empty(k.shape, dO.dtype);
  const dV = ctx.empty(k.shape, dO.dtype);
  const uniforms = { u32: [B, T, S, Hq, Hkv, qOffset, opts.causal ? 1 : 0], f32: [opts.scale] };
  const run = (kind: Kind, outs: Tensor[], threads: number) => {
    const entry = `attention_backward_${kind}`;
    ctx.dispatch({
      pipeline: ctx.pipeline(
        memoShader(`${entry}|${q.dtype}|${k.dtype}|${dO.dtype}|${D}`, () =>
          shader(kind, q.dtype, k.dtype, dO.dtype, D),
        ),
        entry,
      ),
      bindings: [q, k, v, dO, ...outs],
      uniforms,
      workgroups: grid(Math.ceil(threads / WG), ctx.maxWorkgroupsPerDim),
      label: entry,
    });
  };
  run('stats', [stats], B * T * Hq);
  run('dq', [stats, dQ], B * T * Hq);
  run('dkdv', [stats, dK, dV], B * S * Hkv);
  ctx.release(stats);
  return { dQ, dK, dV };
}

/**
 * CPU reference: plain loops in f64, the formulas of the header with P from a two-pass softmax.
 * dO, q [B, T, Hq, D]; k, v [B, S, Hkv, D] (kvLengths is not supported).
 */
export function attentionBackwardCpu(
  dO: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dims: AttentionCpuDims,
): { dQ: Float32Array; dK: Float32Array; dV: Float32Array } {
  const { B = 1, T, S, Hq, Hkv, D, causal, scale, qOffset = 0 } = dims;
  if (dims.kvLengths) throw new Error('attentionBackwardCpu: kvLengths is not supported');
  const G = Hq / Hkv;
  const dQ = new Float64Array(q.length);
  const dK = new Float64Array(k.length);
  const dV = new Float64Array(v.length);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < T; i++) {
      const end = causal ? Math.max(0, Math.min(S, qOffset + i + 1)) : S;
      for (let h = 0; h < Hq; h++) {
        const qb = ((b * T + i) * Hq + h) * D;
        const kvb = (j: number) => ((b * S + j) * Hkv + Math.floor(h / G)) * D;
        const s: number[] = [];
        const dp: number[] = [];
        for (let j = 0; j < end; j++) {
          let dot = 0;
          let dov = 0;
          for (let d = 0; d < D; d++) {
            dot += q[qb + d] * k[kvb(j) + d];
            dov += dO[qb + d] * v[kvb(j) + d];
          }
          s.push(dot * scale);
          dp.push(dov);
        }
        if (end === 0) continue;
        const mx = Math.max(...s);
        let sum = 0;
        for (let j = 0; j < end; j++) sum += Math.exp(s[j] - mx);
        const P = s.map((x) => Math.exp(x - mx) / sum);
        let delta = 0;
        for (let j = 0; j < end; j++) delta += P[j] * dp[j];
        for (let j = 0; j < end; j++) {
          const ds = P[j] * (dp[j] - delta);
          for (let d = 0; d < D; d++) {
            dQ[qb + d] += scale * ds * k[kvb(j) + d];
            dK[kvb(j) + d] += scale * ds * q[qb + d];
            dV[kvb(j) + d] += P[j] * dO[qb + d];
          }
        }
      }
    }
  return { dQ: Float32Array.from(dQ), dK: Float32Array.from(dK), dV: Float32Array.from(dV) };
}
