import type { GpuContext } from '../gpu/context';
import { GpuError } from '../gpu/errors';
import type { OpenedCheckpoint } from './checkpoint';
import { GpuWeights } from './gpu-weights';
import { sliceRows } from './layers';
import { sinusoidalPositions } from './positional';
import { toFloat16Bits, toFloat32 } from './weight-convert';
import { PREFIX } from './weight-manifest';

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
  signal?: AbortSignal,
): Promise<GpuWeights> {
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
      w.set(spec.name, ctx.upload(data, t.shape, dtype));
      loadedBytes += entries[i].end - entries[i].start;
      onProgress?.({ loadedBytes, totalBytes, tensor: spec.name });
    }
    deriveConnectorWeights(ctx, w, ckpt);
    await ctx.sync();
    return w;
  } catch (e) {
    ctx.flush();
    w.destroy();
    throw e;
  }
}

function deriveConnectorWeights(ctx: GpuContext, w: GpuWeights, ckpt: OpenedCheckpoint): void {
  const c = ckpt.config.connector;
  for (let l = 0; l < c.layers; l++) {
    const p = `${PREFIX.connector}layers.${l}.0.`;
    const kv = w.get(`${p}to_kv.weight`); // [2I, C]: k's rows, then v's
    w.set(`${p}to_k.weight`, sliceRows(ctx, kv, 0, c.innerDim));
    w.set(`${p}to_v.weight`, sliceRows(ctx, kv, c.innerDim, 2 * c.innerDim));
  }
  const pe = sinusoidalPositions(c.numQueries, c.dim);
  w.set(`${PREFIX.connector}position_encoding`, ctx.upload(pe, [c.numQueries, c.dim], ctx.actDtype));
}
