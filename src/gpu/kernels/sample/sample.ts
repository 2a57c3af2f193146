import type { GpuContext, Variant } from '../../context';
import { assertDtype, assertShape, type Tensor } from '../../tensor';
import { CHUNK, type GpuSampling, SAMPLE_K_MAX } from './common';
import { drawCpu, drawTopK } from './draw';
import { drawFullCpu, sampleFull } from './full';
import { penalizeLogits, penalizeRowCpu } from './penalty';
import { countTies, withTiesCpu } from './ties';
import { topKCpu, topKPasses } from './topk';

export { penalize } from './penalty';
export { CHUNK, type GpuSampling, SAMPLE_K_MAX };

/**
 * Token sampling on the GPU: logits [B, V] (f32 or f16) → ids u32 [B]; only the ids need reading back.
 *
 * Semantics are the CPU reference's (src/model/sampling.ts `sampleCpu`, which documents them); this
 * folder takes them already resolved (`resolveSampling`), so src/gpu stays model-agnostic. One file
 * per stage, each with its shader, dispatch and CPU reference:
 *   1. penalty.ts (optional): an f32 copy of the logits with every history id's logit penalised.
 *   2. topk.ts: the best K per row, in passes over chunks of CHUNK ids (greedy is K = 1).
 *   3. ties.ts: per chunk, how many logits equal the k-th value (HF keeps every id tied with it).
 *   4. draw.ts: temperature and top-p over the ranked candidates and ties, then the inverse CDF at the
 *      host's uniform. Greedy needs no draw.
 * full.ts: 'full' mode (top-k off, top-p 1) skips the sort and draws in id order.
 */

/**
 * Samples one id per row. `prevIds` u32 [B, L] is the history for the repetition penalty (ids ≥ V are
 * ignored, so rows may be padded with 0xffffffff); `uniforms` holds one u ∈ [0, 1) per row from the
 * host PRNG. Returns ids u32 [B].
 */
export function sample(
  ctx: GpuContext,
  logits: Tensor,
  s: GpuSampling,
  prevIds: Tensor | null,
  uniforms: readonly number[],
  variant: Variant = ctx.variant,
): Tensor {
  assertDtype('sample.logits', logits, 'f32', 'f16');
  if (logits.shape.length !== 2) throw new Error(`sample.logits: expected [B, V], got [${logits.shape}]`);
  const [B, V] = logits.shape;
  if (B === 0 || V === 0) throw new Error(`sample: empty logits [${B}, ${V}]`);
  if (uniforms.length !== B) throw new Error(`sample: ${uniforms.length} uniforms for ${B} rows`);
  if (s.mode !== 'full' && !(Number.isInteger(s.k) && s.k >= 1 && s.k <= SAMPLE_K_MAX))
    throw new Error(`sample: k ${s.k}`);

  const owned: Tensor[] = [];
  let src = logits;
  if (prevIds) {
    assertDtype('sample.prevIds', prevIds, 'u32');
    assertShape('sample.prevIds', prevIds, [B, undefined]);
  }
  if (prevIds && s.penalty !== 1 && prevIds.shape[1] > 0) {
    src = penalizeLogits(ctx, logits, prevIds, s.penalty);
    owned.push(src);
  }

  let out: Tensor;
  if (s.mode === 'greedy') {
    // Greedy draws nothing: the best candidate is the answer, and no uniforms are uploaded.
    const [cv, ci] = topKPasses(ctx, src, 1, variant, owned);
    owned.push(cv);
    out = ci.view([B]);
  } else {
    const u = ctx.upload(Float32Array.from(uniforms), [B], 'f32');
    owned.push(u);
    if (s.mode === 'full') out = sampleFull(ctx, src, s, u, variant, owned);
    else {
      const [cv, ci] = topKPasses(ctx, src, s.k, variant, owned);
      const cnt = countTies(ctx, src, cv, ci);
      owned.push(cv, ci, cnt);
      out = drawTopK(ctx, src, cv, ci, cnt, u, s);
    }
  }
  // No flush needed before the scratch returns to the pool: uploads never reuse a buffer released since
  // the last submit (BufferPool.acquire forWrite), so a decode step stays one command buffer.
  ctx.release(...owned);
  return out;
}

/** Samples and reads the ids back (the only readback a decode step needs). */
export async function sampleToHost(
  ctx: GpuContext,
  logits: Tensor,
  s: GpuSampling,
  prevIds: Tensor | null,
  uniforms: readonly number[],
  variant: Variant = ctx.variant,
): Promise<Uint32Array> {
  const ids = sample(ctx, logits, s, prevIds, uniforms, variant);
  const host = (await ctx.readU32(ids)).slice(0, ids.size);
  ctx.release(ids);
  return host;
}

/**
 * CPU reference for one row: plain loops, f64 softmax, same rules as the kernels (the uniform is
 * rounded to f32 as the GPU sees it). prevIds: the history (ids ≥ V ignored).
 */
export function sampleRowCpu(
  logits: ArrayLike<number>,
  s: GpuSampling,
  prevIds: ArrayLike<number> | null,
  u: number,
): number {
  if (logits.length === 0) throw new Error('sampleRowCpu: empty logits');
  const x = penalizeRowCpu(logits, s.penalty, prevIds);
  const uf = Math.fround(u);
  if (s.mode === 'full') return drawFullCpu(x, s.invTemperature, uf);
  if (s.mode === 'greedy') return topKCpu(x, 1)[0];
  return drawCpu(x, withTiesCpu(x, topKCpu(x, s.k), s.k), s, uf);
}
