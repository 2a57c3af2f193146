import { type GpuContext, grid, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, BYTES, type DType, fmt, type Tensor } from '../tensor';

/**
 * Row gather: y[t] = table[ids[t]]. ids u32 [...], table [V, C] → y [..., C] in the table's dtype.
 * The table may come as row chunks [V_0, C], [V_1, C], … (a 151936×2048 f16 table is 594 MiB, more than
 * one storage binding may hold): one dispatch per chunk, each writing only the rows whose id falls in it.
 * Ids ≥ V (out of range) give rows of zeros, written by the first chunk's dispatch.
 * Rows are copied as u32 words when a row is a whole number of words (any dtype), else as f16 elements.
 * 'flat': one thread per word of the output; 'tiled': one workgroup per token, threads striding its row.
 */
const WG = 64;

function shader(variant: 'flat' | 'tiled', elem: 'u32' | 'f16'): string {
  const head = `${elem === 'f16' ? wgslTypes({ E: 'f16' }) : 'alias E = u32;\n'}
struct P { T: u32, W: u32, off: u32, rows: u32, total: u32, first: u32 }
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> tab: array<E>;
@group(0) @binding(2) var<storage, read_write> y: array<E>;
@group(0) @binding(3) var<uniform> p: P;

// Element j of token t's row, if this chunk owns that row (or must zero it).
fn put(t: u32, j: u32) {
  let id = ids[t];
  let r = id - p.off; // wraps to a huge value below the chunk
  if (r < p.rows) { y[t * p.W + j] = tab[r * p.W + j]; }
  else if (p.first == 1u && id >= p.total) { y[t * p.W + j] = E(); }
}
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG})
fn embedding_forward_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.T * p.W) { return; }
  put(i / p.W, i % p.W);
}`;
  }
  return `${head}
@compute @workgroup_size(${WG})
fn embedding_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u,
                           @builtin(local_invocation_id) l: vec3u) {
  let t = wg.y * nw.x + wg.x;
  if (t >= p.T) { return; }
  for (var j = l.x; j < p.W; j += ${WG}u) { put(t, j); }
}`;
}

export function embedding(
  ctx: GpuContext,
  ids: Tensor,
  table: Tensor | Tensor[],
  variant = ctx.variant,
): Tensor {
  assertDtype('embedding.ids', ids, 'u32');
  const chunks = Array.isArray(table) ? table : [table];
  if (chunks.length === 0) throw new Error('embedding: no table chunks');
  const { dtype } = chunks[0];
  const C = chunks[0].shape[1];
  let total = 0;
  for (const [i, chunk] of chunks.entries()) {
    if (chunk.shape.length !== 2 || chunk.shape[1] !== C || chunk.dtype !== dtype) {
      throw new Error(
        `embedding.table[${i}]: expected [rows, ${C}] ${dtype}, got ${fmt(chunk.shape)} ${chunk.dtype}`,
      );
    }
    total += chunk.shape[0];
  }
  const T = ids.size;
  const y = ctx.empty([...ids.shape, C], dtype);
  const rowBytes = C * BYTES[dtype];
  const elem = rowBytes % 4 === 0 ? 'u32' : 'f16';
  const W = elem === 'u32' ? rowBytes / 4 : C;
  if (elem === 'f16' && !ctx.summary.f16) throw new Error('embedding: odd-width f16 rows need shader-f16');
  const entry = `embedding_forward_${variant}`;
  const pipeline = ctx.pipeline(
    memoShader(`embedding|${variant}|${elem}`, () => shader(variant, elem)),
    entry,
  );
  const workgroups = grid(variant === 'flat' ? Math.ceil((T * W) / WG) : T, ctx.maxWorkgroupsPerDim);
  let off = 0;
  chunks.forEach((chunk, i) => {
    ctx.dispatch({
      pipeline,
      bindings: [ids, chunk, y],
      uniforms: { u32: [T, W, off, chunk.shape[0], total, i === 0 ? 1 : 0] },
      workgroups,
      label: entry,
    });
    off += chunk.shape[0];
  });
  return y;
}

// ---- backward -----------------------------------------------------------------------------------

/**
 * dW[v] = Σ_{t : ids[t] = v} dY[t], f32 [V, C], rows no id names are 0. Repeated ids must add, and WGSL
 * has no float atomics, so the host (which has the ids: they are the tokens it fed in) groups the token
 * positions by id — a counting sort into `order` with row v's positions at order[start[v] .. start[v+1]]
 * — and embedding_backward has one thread per (v, c) summing its row's dY values in token order:
 * deterministic, O(V·C + T·C). Ids ≥ V (zero rows in the forward) get no gradient.
 * dW is dense: meant for small vocabularies (a toy tokenizer's few hundred rows), not a frozen 151936-row table.
 */
function backwardShader(gDtype: DType): string {
  return `${wgslTypes({ G: gDtype })}
struct P { V: u32, C: u32 }
@group(0) @binding(0) var<storage, read> dy: array<G>;
@group(0) @binding(1) var<storage, read> start: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(${WG})
fn embedding_backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.V * p.C) { return; }
  let v = i / p.C;
  let c = i % p.C;
  var acc = 0.0;
  for (var k = start[v]; k < start[v + 1u]; k++) { acc += f32(dy[order[k] * p.C + c]); }
  dw[i] = acc;
}`;
}

/** Token positions grouped by id (counting sort, stable): row v's are order[start[v] .. start[v + 1]]. */
export function groupById(ids: ArrayLike<number>, V: number): { start: Uint32Array; order: Uint32Array } {
  const start = new Uint32Array(V + 1);
  for (let t = 0; t < ids.length; t++) if (ids[t] < V) start[ids[t] + 1]++;
  for (let v = 0; v < V; v++) start[v + 1] += start[v];
  const order = new Uint32Array(Math.max(1, start[V]));
  const next = start.slice(0, V);
  for (let t = 0; t < ids.length; t++) if (ids[t] < V) order[next[ids[t]]++] = t;
  return { start, order };
}

/**
 * Gradient of embedding(ids, table [V, C]) for upstream dY [..., C] (f32 or f16, one row per id):
 * dW f32 [V, C]. `ids` are the forward's ids as host data.
 */
export function embeddingBackward(ctx: GpuContext, dY: Tensor, ids: Uint32Array, V: number): Tensor {
  assertDtype('embeddingBackward.dY', dY, 'f32', 'f16');
  const C = dY.shape[dY.shape.length - 1];
  if (dY.size !== ids.length * C)
    throw new Error(`embeddingBackward.dY: expected ${ids.length} rows of ${C}, got ${fmt(dY.shape)}`);
  const { start, order } = groupById(ids, V);
  const startT = ctx.upload(start, [V + 1], 'u32');
  const orderT = ctx.upload(order, [order.length], 'u32');
  const dW = ctx.empty([V, C], 'f32');
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`embedding_backward|${dY.dtype}`, () => backwardShader(dY.dtype)),
      'embedding_backward',
    ),
    bindings: [dY, startT, orderT, dW],
    uniforms: { u32: [V, C] },
    workgroups: grid(Math.ceil((V * C) / WG), ctx.maxWorkgroupsPerDim),
    label: 'embedding_backward',
  });
  ctx.release(startT, orderT);
  return dW;
}

/** CPU reference: copies row ids[t] of table [V, C]; ids ≥ V give zeros. */
export function embeddingCpu(ids: Uint32Array, table: Float32Array, C: number): Float32Array {
  const V = table.length / C;
  const y = new Float32Array(ids.length * C);
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] >= V) continue;
    for (let c = 0; c < C; c++) y[t * C + c] = table[ids[t] * C + c];
  }
  return y;
}

/** CPU reference of embeddingBackward: scatter-add of dY rows into dW [V, C] in f64. */
export function embeddingBackwardCpu(dY: Float32Array, ids: Uint32Array, V: number, C: number): Float32Array {
  const dW = new Float64Array(V * C);
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] >= V) continue;
    for (let c = 0; c < C; c++) dW[ids[t] * C + c] += dY[t * C + c];
  }
  return Float32Array.from(dW);
}
