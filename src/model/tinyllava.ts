import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from './config';
import type { GpuWeights } from './gpu-weights';
import { concatRows } from './layers';
import { Qwen2 } from './qwen2';
import { resamplerForward } from './resampler';
import { siglipForward } from './siglip';
import { PREFIX } from './weight-manifest';

/**
 * TinyLLaVA-Video: SigLIP → group resampler → Qwen2, composed. Owns the language model's KV cache.
 * Frames go through the tower a few at a time (bounded activation memory); the connector needs all
 * frames' tokens at once (its chunks need not align with frames).
 */
export class TinyLlavaVideo {
  readonly llm: Qwen2;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: GpuWeights,
    /** Frames per vision-tower pass. */
    readonly framesPerPass = 4,
  ) {
    this.llm = new Qwen2(ctx, weights.scope(PREFIX.text), config.text, config.maxLength);
  }

  /** pixels [F, 3, S, S] → vision features [F, P', Cv] (the selected layer's tokens). */
  visionFeatures(pixels: Tensor): Tensor {
    const [F, , S] = pixels.shape;
    if (S !== this.config.vision.imageSize)
      throw new Error(`frames are ${S}px; the model expects ${this.config.vision.imageSize}px`);
    const w = this.weights.scope(PREFIX.vision);
    if (F <= this.framesPerPass)
      return this.dropScratch(siglipForward(this.ctx, w, this.config.vision, pixels));
    const frameBytes = pixels.byteLength / F;
    const parts: Tensor[] = [];
    for (let f = 0; f < F; f += this.framesPerPass) {
      const n = Math.min(this.framesPerPass, F - f);
      const slice = this.ctx.empty([n, ...pixels.shape.slice(1)], pixels.dtype);
      this.ctx.copyRegion(pixels, f * frameBytes, slice, 0, n * frameBytes);
      parts.push(siglipForward(this.ctx, w, this.config.vision, slice));
      this.ctx.release(slice);
    }
    const [, P, C] = parts[0].shape;
    const out = concatRows(
      this.ctx,
      parts.map((p) => p.view([p.shape[0] * P, C])),
    ).view([F, P, C]);
    this.ctx.release(...parts);
    return this.dropScratch(out);
  }

  /**
   * Frees the pooled scratch of a finished phase (vision, connector, prefill): the phases' activation
   * sizes differ, so keeping them pooled would add up every phase's peak instead of the largest one.
   */
  private dropScratch<T>(result: T): T {
    this.ctx.flush();
    this.ctx.pool.trim();
    return result;
  }

  /** vision features [F, P', Cv] → visual tokens [numQueries, C]. */
  connector(features: Tensor): Tensor {
    return this.dropScratch(
      resamplerForward(this.ctx, this.weights.scope(PREFIX.connector), this.config.connector, features),
    );
  }

  /** Starts a new sequence: prefill [before ids | visual tokens | after ids]; returns logits [1, V] of the last position. */
  prefill(before: number[], visual: Tensor | null, after: number[]): Tensor {
    this.llm.reset();
    const parts: Tensor[] = [];
    for (const ids of [before, null, after]) {
      if (ids === null) {
        if (visual) parts.push(visual);
        continue;
      }
      if (ids.length === 0) continue;
      const idT = this.ctx.upload(Uint32Array.from(ids), [ids.length], 'u32');
      parts.push(this.llm.embed(idT));
      this.ctx.release(idT);
    }
    const x = concatRows(this.ctx, parts);
    for (const p of parts) if (p !== visual) this.ctx.release(p);
    const hidden = this.llm.forward(x);
    const logits = this.llm.logitsOfLast(hidden);
    this.ctx.release(hidden);
    return this.dropScratch(logits);
  }

  /** One decode step for token `id`; returns logits [1, V]. */
  step(id: number): Tensor {
    return this.stepBatch([id]);
  }

  /** Continues the prefilled sequence as B sequences (e.g. GRPO rollouts of one prompt). */
  fork(B: number): void {
    this.llm.fork(B);
  }

  /** One decode step of every sequence, one token each (ids.length = the batch); returns logits [B, V]. */
  stepBatch(ids: readonly number[]): Tensor {
    if (ids.length !== this.llm.batch)
      throw new Error(`stepBatch: ${ids.length} ids for ${this.llm.batch} sequences`);
    const idT = this.ctx.upload(Uint32Array.from(ids), [ids.length], 'u32');
    const x = this.llm.embed(idT);
    this.ctx.release(idT);
    const hidden = this.llm.forward(x);
    const logits = this.llm.logitsOfLast(hidden);
    this.ctx.release(hidden);
    return logits;
  }

  destroy(): void {
    // Recorded work may still reference the weights: submit it before destroying them.
    this.ctx.flush();
    this.llm.destroy();
    this.weights.destroy();
  }
}
