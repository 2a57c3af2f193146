import type { GpuContext } from '../gpu/context';
import { GpuError } from '../gpu/errors';
import type { Q4Options } from '../gpu/kernels/quant/format';
import { quantizeQ4 } from '../gpu/kernels/quant/quantize';
import type { OpenedCheckpoint } from './checkpoint';
import { fuseDecoderWeights } from './fuse-weights';
import { GpuWeights, type LinearWeight } from './gpu-weights';
import { sliceRows } from './layers';
import { sinusoidalPositions } from './positional';
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
}

/** The [V, C] vocabulary tables, stored as row parts that each fit one storage binding. */
export const isVocabTable = (name: string) =>
  name === `${PREFIX.text}model.embed_tokens.weight` || name === `${PREFIX.text}lm_head.weight`;

/** Rows per part of a [V, C] table so a part of `bytesPerElem`-byte elements fits `limit` (kept even). */
export function tablePartRows(V: number, C: number, bytesPerElem: number, limit: number): number {
  const rows = Math.floor(limit / (C * bytesPerElem));
  if (rows < 2) throw new Error(`a table row of ${C} values does not fit a ${limit}-byte binding`);
  return Math.min(V, rows - (rows % 2));
}

/**
 * Linear weights that go 4-bit when quantizing: every 2-D `.weight` of the LLM's layers, and the
 * connector's. The vocabulary tables are handled apart (isVocabTable, LoadOptions.quantizeTables).
 */
export function isQuantizable(name: string, shape: readonly number[]): boolean {
  if (shape.length !== 2 || !name.endsWith('.weight')) return false;
  if (name.startsWith(PREFIX.text)) return name.includes('.layers.');
  return name.startsWith(PREFIX.connector);
}

export interface LoadProgress {
  loadedBytes: number;
  totalBytes: number;
  tensor: string;
}

/**
 * Streams every used tensor of an opened (already validated) checkpoint to the GPU, one at a time,
 * converted to the activation dtype; then derives what the forward pass reads in another form
 * (to_kv split into to_k / to_v, the connector's sinusoidal positions, the decoder's merged qkv and
 * gate·up projections).
 */
export async function loadWeights(
  ctx: GpuContext,
  ckpt: OpenedCheckpoint,
  onProgress?: (p: LoadProgress) => void,
  opts: LoadOptions = {},
): Promise<GpuWeights> {
  const { signal, quantize } = opts;
  const quantizeTables = opts.quantizeTables ?? !!quantize;
  const dtype = ctx.actDtype;
  const limit = ctx.summary.limits.maxStorageBufferBindingSize;
  // In file order: over HTTP each shard is then read front to back (one pass on a server without Range).
  const at = (name: string) => ckpt.weights.tensors.get(name)!;
  const used = [...ckpt.report.used].sort((a, b) => {
    const x = at(a.name);
    const y = at(b.name);
    return x.file === y.file ? x.start - y.start : x.file < y.file ? -1 : 1;
  });
  const entries = used.map((t) => at(t.name));
  const totalBytes = entries.reduce((n, e) => n + (e.end - e.start), 0);
  const w = new GpuWeights();
  let loadedBytes = 0;
  try {
    for (const [i, spec] of used.entries()) {
      signal?.throwIfAborted();
      if (isVocabTable(spec.name) && spec.shape.length === 2) {
        // Read and upload part by part: the host never holds the whole (up to 622 MB) table.
        const [V, C] = spec.shape;
        const elem = dtype === 'f16' ? 2 : 4;
        const rows = tablePartRows(V, C, elem, limit);
        const parts: LinearWeight[] = [];
        for (let r = 0; r < V; r += rows) {
          signal?.throwIfAborted();
          const t = await ckpt.loadRows(spec.name, r, Math.min(V, r + rows));
          const plain = ctx.upload(dtype === 'f16' ? toFloat16Bits(t) : toFloat32(t), t.shape, dtype);
          if (quantize && quantizeTables) {
            parts.push(quantizeQ4(ctx, plain, quantize));
            ctx.release(plain);
          } else parts.push(plain);
        }
        w.setTable(spec.name, parts);
        loadedBytes += entries[i].end - entries[i].start;
        onProgress?.({ loadedBytes, totalBytes, tensor: spec.name });
        continue;
      }
      const t = await ckpt.load(spec.name);
      const n = t.shape.reduce((a, b) => a * b, 1);
      const bytes = n * (dtype === 'f16' ? 2 : 4);
      if (bytes > limit) {
        throw new GpuError(
          'out-of-memory',
          `${spec.name} needs ${(bytes / 2 ** 20).toFixed(0)} MiB in one GPU binding; this GPU allows ${(limit / 2 ** 20).toFixed(0)} MiB.`,
          'Use a GPU with a larger maxStorageBufferBindingSize, or a quantized build of the model.',
        );
      }
      const data = dtype === 'f16' ? toFloat16Bits(t) : toFloat32(t);
      const plain = ctx.upload(data, t.shape, dtype);
      w.set(spec.name, plain);
      // Quantize as we go, so the plain copy of only one tensor is alive at a time (to_kv is split first).
      if (quantize && isQuantizable(spec.name, t.shape) && !spec.name.endsWith('to_kv.weight')) {
        w.setQuantized(spec.name, quantizeQ4(ctx, plain, quantize));
        ctx.release(plain);
      }
      loadedBytes += entries[i].end - entries[i].start;
      onProgress?.({ loadedBytes, totalBytes, tensor: spec.name });
    }
    deriveConnectorWeights(ctx, w, ckpt, quantize ?? null);
    fuseDecoderWeights(ctx, w, ckpt.config.text);
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
