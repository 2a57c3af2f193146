import type { GpuContext } from '../gpu/context';
import type { FrameSource } from '../gpu/frames-to-tensor';
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from './config';
import type { GpuWeights } from './gpu-weights';
import { concatRows } from './layers';
import { type FramePreprocess, framePreprocess } from './preprocess';
import { Qwen2, toStream } from './qwen2';
import { resamplerForward } from './resampler';
import { VisionStream } from './vision-stream';
import { PREFIX } from './weight-manifest';

/**
 * TinyLLaVA-Video: SigLIP → group resampler → Qwen2, composed. Owns the language model's KV cache.
 * Frames go through the tower a few at a time (bounded activation memory); the connector needs all
 * frames' tokens at once (its chunks need not align with frames).
 */
export class TinyLlavaVideo {
  readonly llm: Qwen2;
  /** How a decoded frame becomes pixels (tests in Node, which has no VideoFrame, replace it). */
  preprocess: FramePreprocess;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: GpuWeights,
    /** Frames per vision-tower pass. */
    readonly framesPerPass = 4,
  ) {
    this.preprocess = framePreprocess(config.vision);
    // A load plan may shorten the context: the KV cache holds config.maxLength positions.
    this.llm = new Qwen2(ctx, weights.scope(PREFIX.text), config.text, config.maxLength);
  }

  /** pixels [F, 3, S, S] (preprocessed) → vision features [F, P', Cv]: a stream fed every frame at once. */
  visionFeatures(pixels: Tensor): Tensor {
    const [F, , S] = pixels.shape;
    if (S !== this.config.vision.imageSize)
      throw new Error(`frames are ${S}px; the model expects ${this.config.vision.imageSize}px`);
    const stream = new VisionStream(this, F);
    for (let f = 0; f < F; f++) stream.addPixels(f, pixels, f);
    return this.dropScratch(stream.takeFeatures());
  }

  /** Decoded frames → pixels [F, 3, S, S] in the activation dtype (the model's preprocessing). */
  async preprocessFrames(frames: readonly FrameSource[]): Promise<Tensor> {
    if (frames.length === 0) throw new Error('preprocess: no frames');
    const S = this.config.vision.imageSize;
    const out = this.ctx.empty([frames.length, 3, S, S], this.ctx.actDtype, 'frames');
    for (const [f, frame] of frames.entries()) await this.preprocess(this.ctx, frame, out, f);
    return out;
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
    const logits = this.ctx.tidy(() => {
      const vis = visual && toStream(this.ctx, visual); // [Q, C] f32, as the embeddings
      const parts = [this.embed(before), vis, this.embed(after)].filter((t) => t !== null);
      return this.run(concatRows(this.ctx, parts)); // x [T, C] f32
    });
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
    return this.ctx.tidy(() => this.run(this.embed(ids)!)); // x [B, C]
  }

  /** Token ids → embeddings [T, C] f32; null for none. */
  private embed(ids: readonly number[]): Tensor | null {
    if (ids.length === 0) return null;
    return this.llm.embed(this.ctx.upload(Uint32Array.from(ids), [ids.length], 'u32'));
  }

  /** x [B·T, C] through the language model → logits [B, V] of each sequence's last position. */
  private run(x: Tensor): Tensor {
    return this.llm.logitsOfLast(this.llm.forward(x));
  }

  destroy(): void {
    // Recorded work may still reference the weights: submit it before destroying them.
    this.ctx.flush();
    this.llm.destroy();
    this.weights.destroy();
  }
}
