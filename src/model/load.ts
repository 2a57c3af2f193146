import type { GpuContext } from '../gpu/context';
import { GpuError } from '../gpu/errors';
import type { Q4Options } from '../gpu/kernels/quant/format';
import { quantizeQ4 } from '../gpu/kernels/quant/quantize';
import type { OpenedCheckpoint } from './checkpoint';
import { GpuWeights } from './gpu-weights';
import { sliceRows } from './layers';
import { sinusoidalPositions } from './positional';
import { toFloat16Bits, toFloat32 } from './weight-convert';
import { PREFIX } from './weight-manifest';

/** The engine's 4-bit format, chosen by KL against the bf16 reference (src/model/quantized.test.ts). */
export const ENGINE_Q4: Q4Options = { scheme: 'asym', groupSize: 32 };

export interface LoadOptions {
  /** 4-bit group quantization of the language model's and the connector's Linear weights (done on the GPU). */
  quantize?: Q4Options | null;
  signal?: AbortSignal;
}

/**
 * Linear weights that go 4-bit when quantizing: every 2-D `.weight` of the LLM's layers, and the
 * connector's. The embedding and an untied lm_head stay f16: 4-bit logits measured KL 3.5 nats against
 * the reference on the tiny-b fixture, 0.19 without.
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
 * (to_kv split into to_k / to_v, the connector's sinusoidal positions).
 */
export async function loadWeights(
  ctx: GpuContext,
  ckpt: OpenedCheckpoint,
  onProgress?: (p: LoadProgress) => void,
  opts: LoadOptions = {},
): Promise<GpuWeights> {
  const { signal, quantize } = opts;
  const dtype = ctx.actDtype;
  const limit = ctx.summary.limits.maxStorageBufferBindingSize;
  const used = ckpt.report.used;
  const entries = used.map((t) => ckpt.weights.tensors.get(t.name)!);
  const totalBytes = entries.reduce((n, e) => n + (e.end - e.start), 0);
  const w = new GpuWeights();
  let loadedBytes = 0;
  try {
    for (const [i, spec] of used.entries()) {
      signal?.throwIfAborted();
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
    await ctx.sync();
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
    const kv = w.take(`${p}to_kv.weight`); // [2I, C]: k's rows, then v's
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
