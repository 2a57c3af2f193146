import { type GpuContext, grid, type Variant } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { Tensor } from '../../tensor';
import type { ShaderConfig } from './common';
import { FLAT_WG, flatShader } from './flat';
import { mergeSplits } from './merge';
import { chooseTile, tiledShader } from './tiled';

/** Everything one attention dispatch needs, shapes already checked by the public wrappers. */
export interface RunArgs {
  q: Tensor; // [B, T, Hq, D]
  k: Tensor; // [B, S, Hkv, D] (S = rows per sequence in the buffer)
  v: Tensor; // [B, S, Hkv, D]
  /** u32 [B]: keys per sequence; its T queries are the last T positions. null: nKeys and qOffset. */
  lens: Tensor | null;
  nKeys: number;
  qOffset: number;
  /** Host-known upper bound of keys any sequence sees (sizes the split-K chunks). */
  maxKeys: number;
  causal: boolean;
  scale: number;
  /** Split-K over keys: a count, or 'auto' (split only when rows alone underfill the device). */
  splits: number | 'auto';
  variant: Variant;
}

/** Workgroups wanted in flight before splitting keys is not worth it, per variant. */
const TARGET_WORKGROUPS: Record<Variant, number> = { flat: 16, tiled: 128 };
const MIN_CHUNK = 64;

export function splitPlan(
  splits: number | 'auto',
  workgroups: number,
  variant: Variant,
  maxKeys: number,
  align: number,
): { nSplit: number; chunk: number } {
  let n: number;
  if (splits === 'auto') {
    const want = Math.ceil(TARGET_WORKGROUPS[variant] / workgroups);
    n = Math.max(1, Math.min(want, Math.floor(maxKeys / MIN_CHUNK)));
  } else {
    if (!Number.isInteger(splits) || splits < 1) throw new Error(`attention: splits ${splits}`);
    n = splits;
  }
  if (n === 1) return { nSplit: 1, chunk: Math.max(1, maxKeys) };
  const chunk = Math.max(align, Math.ceil(Math.ceil(maxKeys / n) / align) * align);
  return { nSplit: Math.max(1, Math.ceil(maxKeys / chunk)), chunk };
}

export function runAttention(ctx: GpuContext, a: RunArgs): Tensor {
  const [B, T, Hq, D] = a.q.shape;
  const [, S, Hkv] = a.k.shape;
  const qType = a.q.dtype as 'f32' | 'f16';
  const rows = B * T * Hq;
  const tile =
    a.variant === 'tiled'
      ? chooseTile(D, T * (Hq / Hkv), ctx.summary.limits.maxComputeWorkgroupStorageSize)
      : null;
  const rowBlocks = tile ? Math.ceil((T * Hq) / Hkv / tile.BR) : 0;
  const baseWorkgroups = tile ? rowBlocks * B * Hkv : Math.ceil(rows / FLAT_WG);
  const { nSplit, chunk } = splitPlan(a.splits, baseWorkgroups, a.variant, a.maxKeys, tile?.BC ?? 1);
  const partial = nSplit > 1;

  const cfg: ShaderConfig = {
    qType,
    kvType: a.k.dtype as 'f32' | 'f16',
    D,
    perSeqLengths: a.lens !== null,
    partial,
  };
  const code = tile
    ? memoShader(`attention_tiled|${JSON.stringify(cfg)}|${tile.BR}|${tile.BC}`, () => tiledShader(cfg, tile))
    : memoShader(`attention_flat|${JSON.stringify(cfg)}`, () => flatShader(cfg));
  const entry = `attention_forward_${a.variant}`;
  const label = `${entry}${partial ? '_partial' : ''}`;

  const outs = partial
    ? [ctx.empty([rows, nSplit, D], 'f32'), ctx.empty([rows, nSplit, 2], 'f32')]
    : [ctx.empty([B, T, Hq, D], qType)];
  const workgroups: [number, number, number] = tile
    ? [rowBlocks, B * Hkv, nSplit]
    : [...grid(Math.ceil((rows * nSplit) / FLAT_WG), ctx.maxWorkgroupsPerDim), 1];
  if (tile && Math.max(rowBlocks, B * Hkv, nSplit) > ctx.maxWorkgroupsPerDim)
    throw new Error(`attention: grid ${workgroups.join('×')} exceeds the adapter's limit`);
  ctx.dispatch({
    pipeline: ctx.pipeline(code, entry),
    bindings: [a.q, a.k, a.v, ...(a.lens ? [a.lens] : []), ...outs],
    uniforms: {
      u32: [B, T, S, Hq, Hkv, a.nKeys, a.qOffset, a.causal ? 1 : 0, nSplit, chunk],
      f32: [a.scale],
    },
    workgroups,
    label,
  });
  if (!partial) return outs[0];
  const out = mergeSplits(ctx, outs[0], outs[1], [B, T, Hq, D], qType);
  ctx.release(...outs);
  return out;
}
