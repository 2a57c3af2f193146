/**
 * The clips of a fine-tuning set through the app's video → vision path, once per clip: WebCodecs
 * decode of N uniformly sampled frames (src/video), the model's preprocessing, the vision tower and
 * the connector; the visual tokens stay on the GPU for every step of the run.
 */
import type { TrainItem } from '../engine-client/protocol';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { buildPrompt } from '../model/prompt';
import type { TinyLlavaVideo } from '../model/tinyllava';
import type { TextTokenizer } from '../model/tokenizer';
import type { GrpoItem } from '../rl-lite/grpo';
import { sampleVideo } from '../video/sample-video';

/** A clip → preprocessed pixels [F, 3, S, S] (the browser decodes with WebCodecs; tests pass their own). */
export type ClipPixels = (model: TinyLlavaVideo, video: Blob, frames: number) => Promise<Tensor>;

export const webCodecsPixels: ClipPixels = async (model, video, frames) => {
  const { frames: sampled } = await sampleVideo(video, { method: { kind: 'uniform', n: frames } });
  try {
    return await model.preprocessFrames(sampled.map((s) => s.frame));
  } finally {
    for (const s of sampled) s.frame.close();
  }
};

/** Visual tokens [numQueries, C] of one clip. */
export async function visualTokens(
  ctx: GpuContext,
  model: TinyLlavaVideo,
  pixelsOf: ClipPixels,
  video: Blob,
  frames: number,
): Promise<Tensor> {
  const pixels = await pixelsOf(model, video, frames);
  try {
    const features = model.visionFeatures(pixels);
    try {
      return model.connector(features);
    } finally {
      ctx.release(features);
    }
  } finally {
    ctx.release(pixels);
  }
}

/** The items as the trainer's prompts: question ids around each clip's visual tokens. */
export async function preparePrompts(
  ctx: GpuContext,
  model: TinyLlavaVideo,
  tokenizer: TextTokenizer,
  items: readonly TrainItem[],
  frames: number,
  pixelsOf: ClipPixels,
  onProgress?: (done: number, total: number) => void,
): Promise<{ prompts: GrpoItem[]; release(): void }> {
  const owned: Tensor[] = [];
  // The same clip (by its Blob) is computed once.
  const byClip = new Map<Blob, Tensor>();
  const prompts: GrpoItem[] = [];
  try {
    for (const [i, it] of items.entries()) {
      let visual = byClip.get(it.video);
      if (!visual) {
        visual = await visualTokens(ctx, model, pixelsOf, it.video, frames);
        owned.push(visual);
        byClip.set(it.video, visual);
      }
      const p = buildPrompt(tokenizer, { question: it.problem });
      prompts.push({ before: p.before, after: p.after, visual, solution: it.solution });
      onProgress?.(i + 1, items.length);
    }
  } catch (e) {
    ctx.release(...owned);
    throw e;
  }
  return { prompts, release: () => ctx.release(...owned) };
}
