import type { GpuContext, Variant } from '../../context';
import { assertDtype, assertShape, fmt, type Tensor } from '../../tensor';
import { runAttention } from './run';

export { type AttentionBackwardOptions, attentionBackward, attentionBackwardCpu } from './backward';
export { type AttentionCpuDims, attentionCpu } from './cpu';

/**
 * Multi-head attention, softmax(scale · q·kᵀ [+ causal mask]) · v, with GQA and an optional leading
 * batch of independent sequences (SigLIP frames, resampler chunks) run in one dispatch.
 *   q [T, Hq, D] or [B, T, Hq, D]; k, v [S, Hkv, D] or [B, S, Hkv, D] → [(B,) T, Hq, D] in q's dtype.
 * Hq must be a multiple of Hkv: query head h reads kv head ⌊h / (Hq/Hkv)⌋. The math is f32 with an
 * online softmax, so memory stays O(T·Hq·D) whatever S is. Variants: 'flat' (one thread per query
 * row and head, no barriers) and 'tiled' (shared-memory K/V tiles); see attention/flat.ts, tiled.ts.
 */
export interface AttentionOptions {
  causal: boolean;
  scale: number;
  /** Position of query row 0 among the S keys (prefill continuing a cache): key j is visible to query i iff j ≤ qOffset + i. */
  qOffset?: number;
  /**
   * u32 [B]: only the first kvLengths[b] keys of sequence b exist (padded batches). With causal, the
   * T queries are then the last T positions of each sequence and qOffset is ignored.
   */
  kvLengths?: Tensor;
  /** Split-K over keys (partial softmax states + a merge pass): a count, 1 for the plain path, or 'auto' (default). */
  splits?: number | 'auto';
}

export const MAX_HEAD_DIM = 256;

export function attention(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions,
  variant: Variant = ctx.variant,
): Tensor {
  const batched = q.shape.length === 4;
  if (!batched && q.shape.length !== 3)
    throw new Error(`attention.q: expected [(B,) T, Hq, D], got ${fmt(q.shape)}`);
  const [B, T, Hq, D] = batched ? q.shape : [1, ...q.shape];
  const S = k.shape[batched ? 1 : 0];
  const Hkv = k.shape[batched ? 2 : 1];
  const kvShape = batched ? [B, S, Hkv, D] : [S, Hkv, D];
  assertShape('attention.k', k, kvShape);
  assertShape('attention.v', v, kvShape);
  assertDtype('attention.q', q, 'f32', 'f16');
  assertDtype('attention.k', k, 'f32', 'f16');
  assertDtype('attention.v', v, k.dtype);
  if (Hq % Hkv !== 0) throw new Error(`attention: Hq=${Hq} is not a multiple of Hkv=${Hkv}`);
  if (D > MAX_HEAD_DIM) throw new Error(`attention: head dim ${D} > ${MAX_HEAD_DIM}`);
  const qOffset = opts.qOffset ?? 0;
  if (!Number.isInteger(qOffset) || qOffset < 0) throw new Error(`attention: qOffset ${qOffset}`);
  if (opts.kvLengths) {
    assertShape('attention.kvLengths', opts.kvLengths, [B]);
    assertDtype('attention.kvLengths', opts.kvLengths, 'u32');
  }
  const visible = opts.causal && !opts.kvLengths ? Math.min(S, qOffset + T) : S;
  const out = runAttention(ctx, {
    q: q.view([B, T, Hq, D]),
    k: k.view([B, S, Hkv, D]),
    v: v.view([B, S, Hkv, D]),
    lens: opts.kvLengths ?? null,
    nKeys: S,
    qOffset,
    maxKeys: visible,
    causal: opts.causal,
    scale: opts.scale,
    splits: opts.splits ?? 'auto',
    variant,
  });
  return out.view(q.shape);
}
