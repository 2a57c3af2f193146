import type { GpuContext } from '../gpu/context';
import { GpuError } from '../gpu/errors';
import { type Q4Options, type QTensor, q4Layout } from '../gpu/kernels/quant/format';
import { quantizeQ4 } from '../gpu/kernels/quant/quantize';
import type { OpenedCheckpoint } from './checkpoint';
import type { StoredQ4 } from './engine-format';
import { fuseDecoderWeights } from './fuse-weights';
import { GpuWeights, type LinearWeight } from './gpu-weights';
import { sliceRows } from './layers';
import { bindingLimit, isQuantizable, isVocabTable, type PlanLimits, tablePartRows } from './plan';
import { sinusoidalPositions } from './positional';
import { readOrder } from './sources/read-ahead';
import { toFloat16Bits, toFloat32 } from './weight-convert';
import { PREFIX } from './weight-manifest';

/** The engine's 4-bit format, chosen by KL against the bf16 reference (src/model/quantized.test.ts). */
export const ENGINE_Q4: Q4Options = { scheme: 'asym', groupSize: 32 };

export interface LoadOptions {
  /** 4-bit group quantization of the language model's and the connector's Linear weights (done on the GPU). */
  quantize?: Q4Options | null;
  /** Also store the vocabulary tables (embedding, lm_head) 4-bit; default: when quantizing. */
  quantizeTables?: boolean;
  signal?: AbortSignal;
  /** The limits tables are split by (a plan's, possibly lower than the device's; default the device's). */
  limits?: PlanLimits;
}

export { isQuantizable, isVocabTable, tablePartRows } from './plan';

export interface LoadProgress {
  loadedBytes: number;
  totalBytes: number;
  tensor: string;
}

/**
 * Streams every used tensor of an opened (already validated) checkpoint to the GPU, one at a time,
 * converted to the activation dtype (a weight to be quantized goes up as f32, so its 4-bit form does not
 * depend on the adapter and equals quantizeQ4Cpu's, which the converter writes); a converted
 * checkpoint's 4-bit weights are uploaded as stored, and its files' hashes are checked. Then derives what the forward pass reads in another form
 * (to_kv split into to_k / to_v, the connector's sinusoidal positions, the decoder's merged qkv and
 * gate·up projections).
 */
export async function loadWeights(
  ctx: GpuContext,
  ckpt: OpenedCheckpoint,
  onProgress?: (p: LoadProgress) => void,
  opts: LoadOptions = {},
): Promise<GpuWeights> {
  const { signal } = opts;
  const stored = ckpt.converted;
  // A converted checkpoint says how it was quantized; a weight it stores plain is quantized the same way.
  const quantize = stored ? { ...stored.manifest.quantization } : opts.quantize;
  const quantizeTables = stored ? stored.manifest.quantization.tables : (opts.quantizeTables ?? !!quantize);
  const dtype = ctx.actDtype;
  const limit = Math.min(bindingLimit(ctx.summary.limits), bindingLimit(opts.limits ?? ctx.summary.limits));
  // A few shards at a time, each front to back (one pass per file on a server without Range); over
  // HTTP the loader's source reads ahead in this order (sources/read-ahead.ts).
  const at = (name: string) => {
    const q = stored?.q4.get(name);
    return q ? [q.packed, q.scales, ...(q.mins ? [q.mins] : [])] : [ckpt.weights.entry(name)];
  };
  const used = readOrder(ckpt.report.used, (t) => at(t.name)[0]);
  const tensorBytes = used.map((t) => at(t.name).reduce((n, e) => n + (e.end - e.start), 0));
  const totalBytes = tensorBytes.reduce((a, b) => a + b, 0);
  const w = new GpuWeights();
  let loadedBytes = 0;
  try {
    for (const [i, spec] of used.entries()) {
      signal?.throwIfAborted();
      const q4 = stored?.q4.get(spec.name);
      if (q4 && quantize) {
        uploadStoredQ4(ctx, w, spec.name, await readStoredQ4(ckpt, q4, spec.shape, quantize, limit));
        loadedBytes += tensorBytes[i];
        onProgress?.({ loadedBytes, totalBytes, tensor: spec.name });
        continue;
      }
      if (isVocabTable(spec.name) && spec.shape.length === 2) {
        // Read and upload part by part: the host never holds the whole (up to 622 MB) table.
        const [V, C] = spec.shape;
        const toQ4 = !!quantize && quantizeTables;
        const elem = dtype === 'f16' && !toQ4 ? 2 : 4;
        const rows = tablePartRows(V, C, elem, limit);
        const parts: LinearWeight[] = [];
        for (let r = 0; r < V; r += rows) {
          signal?.throwIfAborted();
          const t = await ckpt.loadRows(spec.name, r, Math.min(V, r + rows));
          const plain = toQ4
            ? ctx.upload(toFloat32(t), t.shape, 'f32')
            : ctx.upload(dtype === 'f16' ? toFloat16Bits(t) : toFloat32(t), t.shape, dtype);
          if (toQ4) {
            parts.push(quantizeQ4(ctx, plain, quantize));
            ctx.release(plain);
          } else parts.push(plain);
        }
        w.setTable(spec.name, parts);
        loadedBytes += tensorBytes[i];
        onProgress?.({ loadedBytes, totalBytes, tensor: spec.name });
        continue;
      }
      const t = await ckpt.load(spec.name);
      const n = t.shape.reduce((a, b) => a * b, 1);
      const toQ4 = !!quantize && isQuantizable(spec.name, t.shape);
      const bytes = n * (dtype === 'f16' && !toQ4 ? 2 : 4);
      if (bytes > limit) {
        throw new GpuError(
          'out-of-memory',
          `${spec.name} needs ${(bytes / 2 ** 20).toFixed(0)} MiB in one GPU binding; this GPU allows ${(limit / 2 ** 20).toFixed(0)} MiB.`,
          'Use a GPU with a larger maxStorageBufferBindingSize, or a quantized build of the model.',
        );
      }
      // A weight to be quantized goes up as f32 (exact from bf16): its 4-bit form is then the same on
      // every adapter and equals quantizeQ4Cpu's (what the converted format stores).
      const plain = toQ4
        ? ctx.upload(toFloat32(t), t.shape, 'f32')
        : ctx.upload(dtype === 'f16' ? toFloat16Bits(t) : toFloat32(t), t.shape, dtype);
      w.set(spec.name, plain);
      // Quantize as we go, so the plain copy of only one tensor is alive at a time (to_kv is split first).
      if (toQ4 && quantize && !spec.name.endsWith('to_kv.weight')) {
        w.setQuantized(spec.name, quantizeQ4(ctx, plain, quantize));
        ctx.release(plain);
      }
      loadedBytes += tensorBytes[i];
      onProgress?.({ loadedBytes, totalBytes, tensor: spec.name });
    }
    deriveConnectorWeights(ctx, w, ckpt, quantize ?? null);
    fuseDecoderWeights(ctx, w, ckpt.config.text);
    await stored?.verify(signal);
    await ctx.sync();
    ctx.pool.trim(); // the plain copies of quantized weights: nothing else will reuse their sizes
    return w;
  } catch (e) {
    ctx.flush();
    w.destroy();
    throw e;
  }
}

function deriveConnectorWeights(
  ctx: GpuContext,
  w: GpuWeights,
  ckpt: OpenedCheckpoint,
  quantize: Q4Options | null,
): void {
  const c = ckpt.config.connector;
  for (let l = 0; l < c.layers; l++) {
    const p = `${PREFIX.connector}layers.${l}.0.`;
    if (w.has(`${p}to_k.weight`)) continue; // a converted checkpoint's, split when read
    const kv = w.takePlain(`${p}to_kv.weight`); // [2I, C]: k's rows, then v's
    for (const [name, r0] of [
      ['to_k', 0],
      ['to_v', c.innerDim],
    ] as const) {
      const half = sliceRows(ctx, kv, r0, r0 + c.innerDim);
      w.set(`${p}${name}.weight`, half);
      if (quantize) {
        w.setQuantized(`${p}${name}.weight`, quantizeQ4(ctx, half, quantize));
        ctx.release(half);
      }
    }
    ctx.release(kv);
  }
  const pe = sinusoidalPositions(c.numQueries, c.dim);
  w.set(`${PREFIX.connector}position_encoding`, ctx.upload(pe, [c.numQueries, c.dim], ctx.actDtype));
}

/** Rows of a stored 4-bit weight as read: f16 scales as their bits, ready to upload. */
interface Q4Rows {
  packed: Uint32Array;
  scales: Uint16Array | Float32Array;
  mins?: Uint16Array | Float32Array;
  N: number;
  K: number;
  opts: Q4Options;
}

/**
 * Reads a stored 4-bit weight as row blocks: the connector's to_kv as its k and v halves (to_k, to_v),
 * a vocabulary table in parts that each fit one binding, any other weight whole.
 */
async function readStoredQ4(
  ckpt: OpenedCheckpoint,
  q: StoredQ4,
  shape: readonly number[],
  opts: Q4Options,
  limit: number,
): Promise<{ blocks: { name: string; rows: Q4Rows }[] }> {
  const [N, K] = shape;
  const L = q4Layout(N, K, opts);
  const name = q.packed.name.slice(0, q.packed.name.lastIndexOf('.q4_'));
  let blocks: { name: string; r0: number; r1: number }[] = [{ name, r0: 0, r1: N }];
  if (name.endsWith('.to_kv.weight')) {
    const p = name.slice(0, -'to_kv.weight'.length);
    blocks = [
      { name: `${p}to_k.weight`, r0: 0, r1: N / 2 },
      { name: `${p}to_v.weight`, r0: N / 2, r1: N },
    ];
  } else if (isVocabTable(name)) {
    const rows = tablePartRows(N, L.words, 4, limit);
    blocks = [];
    for (let r = 0; r < N; r += rows) blocks.push({ name, r0: r, r1: Math.min(N, r + rows) });
  }
  const view = (bytes: Uint8Array, dtype: string) =>
    dtype === 'F16'
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)
      : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const out: { name: string; rows: Q4Rows }[] = [];
  for (const b of blocks) {
    const packed = await ckpt.loadRows(q.packed.name, b.r0, b.r1);
    const scales = await ckpt.loadRows(q.scales.name, b.r0, b.r1);
    const mins = q.mins ? await ckpt.loadRows(q.mins.name, b.r0, b.r1) : undefined;
    out.push({
      name: b.name,
      rows: {
        packed: new Uint32Array(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength / 4),
        scales: view(scales.bytes, scales.dtype),
        ...(mins ? { mins: view(mins.bytes, mins.dtype) } : {}),
        N: b.r1 - b.r0,
        K,
        opts,
      },
    });
  }
  return { blocks: out };
}

/** Uploads the blocks read by readStoredQ4 under their weight names (a table as its parts). */
function uploadStoredQ4(
  ctx: GpuContext,
  w: GpuWeights,
  name: string,
  { blocks }: { blocks: { name: string; rows: Q4Rows }[] },
): void {
  const up = (r: Q4Rows): QTensor => {
    const L = q4Layout(r.N, r.K, r.opts);
    const sd = L.scaleDtype;
    return {
      packed: ctx.upload(r.packed, [L.N, L.words], 'u32'),
      scales: ctx.upload(r.scales, [L.N, L.groups], sd),
      ...(r.mins ? { mins: ctx.upload(r.mins, [L.N, L.groups], sd) } : {}),
      N: L.N,
      K: L.K,
      groupSize: L.groupSize,
      scheme: L.scheme,
    };
  };
  if (isVocabTable(name))
    w.setTable(
      name,
      blocks.map((b) => up(b.rows)),
    );
  else for (const b of blocks) w.setQuantized(b.name, up(b.rows));
}
