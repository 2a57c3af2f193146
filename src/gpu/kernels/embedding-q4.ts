import { type GpuContext, grid, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, type Tensor } from '../tensor';
import {
  assertSameQ4Format,
  layoutOf,
  type Q4Host,
  type Q4Layout,
  type QTensor,
  q4Value,
} from './quant/format';

/**
 * Row gather from a 4-bit table: y[t] = dequantized row ids[t]. ids u32 [...], table a QTensor [V, K]
 * (format.ts) or its row shards [V_0, K], [V_1, K], … in order (a 151936×2048 table is too big for one
 * storage binding even at 4 bits once scales are counted) → y [..., K] in `out` (f32 or f16).
 * Ids ≥ the total V give zero rows, written by the first shard's dispatch (as embedding.ts does).
 *
 * One dispatch per shard, each writing only the rows whose id falls in it. One thread per (token, packed
 * word): 8 consecutive k from one u32, all in one group, so one scale (and min) load per 8 outputs.
 * Values: sym (q − 8)·s, asym q·s + min, in f32 — exactly q4Value rounded to f32 when scales are f16
 * (the product is exact), within an ulp otherwise. Barrier-free: one kernel for every adapter.
 */
const WG = 64;

function shader(L: Q4Layout, out: 'f32' | 'f16'): string {
  const sym = L.scheme === 'sym';
  const f16s = L.scaleDtype === 'f16';
  const st = f16s ? 'u32' : 'f32';
  const rd = (arr: string) => (f16s ? `unpack2x16float(${arr}[g >> 1u])[g & 1u]` : `${arr}[g]`);
  return `${wgslTypes({ Y: out })}
struct P { T: u32, K: u32, W: u32, WPR: u32, NG: u32, WPG: u32, off: u32, rows: u32, total: u32, first: u32 }
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read> sc: array<${st}>;
${sym ? '' : `@group(0) @binding(3) var<storage, read> mn: array<${st}>;`}
@group(0) @binding(${sym ? 3 : 4}) var<storage, read_write> y: array<Y>;
@group(0) @binding(${sym ? 4 : 5}) var<uniform> p: P;

@compute @workgroup_size(${WG})
fn embedding_q4_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let e = gid.y * nw.x * ${WG}u + gid.x;
  if (e >= p.T * p.W) { return; }
  let t = e / p.W;
  let j = e % p.W; // word j of the row: k = 8j … 8j + 7
  let id = ids[t];
  let r = id - p.off; // wraps to a huge value below the shard
  let k0 = 8u * j;
  let n = min(p.K - k0, 8u);
  let o = t * p.K + k0;
  if (r >= p.rows) {
    if (p.first == 1u && id >= p.total) { for (var i = 0u; i < n; i++) { y[o + i] = Y(); } }
    return;
  }
  let u = wq[r * p.WPR + j];
  let g = r * p.NG + j / p.WPG;
  let s = ${rd('sc')};
  for (var i = 0u; i < n; i++) {
    let q = f32((u >> (4u * i)) & 15u);
    y[o + i] = Y(${sym ? '(q - 8.0) * s' : `q * s + ${rd('mn')}`});
  }
}`;
}

export function embeddingQ4(
  ctx: GpuContext,
  ids: Tensor,
  table: QTensor | QTensor[],
  out: 'f32' | 'f16' = ctx.actDtype as 'f32' | 'f16',
): Tensor {
  assertDtype('embeddingQ4.ids', ids, 'u32');
  const shards = Array.isArray(table) ? table : [table];
  if (out === 'f16' && !ctx.summary.f16) throw new Error('embeddingQ4: f16 output needs shader-f16');
  const L = assertSameQ4Format('embeddingQ4.table', shards);
  let total = 0;
  for (const [i, s] of shards.entries()) {
    if ((L.scheme === 'asym') !== (s.mins !== undefined))
      throw new Error(`embeddingQ4.table[${i}]: mins must be present exactly for asym`);
    total += s.N;
  }
  const T = ids.size;
  const { K } = L;
  const W = Math.ceil(K / 8); // words holding real k (the rest of the row is padding)
  const y = ctx.empty([...ids.shape, K], out);
  const entry = 'embedding_q4_forward';
  const pipeline = ctx.pipeline(
    memoShader(`embedding_q4|${JSON.stringify(L)}|${out}`, () => shader(L, out)),
    entry,
  );
  const workgroups = grid(Math.ceil((T * W) / WG), ctx.maxWorkgroupsPerDim);
  let off = 0;
  shards.forEach((s, i) => {
    ctx.dispatch({
      pipeline,
      bindings: [ids, s.packed, s.scales, ...(s.mins ? [s.mins] : []), y],
      uniforms: { u32: [T, K, W, L.words, L.groups, L.groupSize / 8, off, s.N, total, i === 0 ? 1 : 0] },
      workgroups,
      label: entry,
    });
    off += s.N;
  });
  return y;
}

/** CPU reference: row ids[t] of the concatenated shards, dequantized with q4Value (f64); ids ≥ V give zeros. */
export function embeddingQ4Cpu(ids: Uint32Array, table: Q4Host | Q4Host[]): Float32Array {
  const shards = Array.isArray(table) ? table : [table];
  const K = shards[0].K;
  const y = new Float32Array(ids.length * K);
  for (let t = 0; t < ids.length; t++) {
    let r = ids[t];
    for (const s of shards) {
      if (r < s.N) {
        const L = layoutOf(s);
        for (let k = 0; k < K; k++) y[t * K + k] = q4Value(s, L, r, k);
        break;
      }
      r -= s.N;
    }
  }
  return y;
}
