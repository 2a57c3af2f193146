/**
 * Tensor lifetimes: every model path — vision features, connector, prefill, step, fork(B) + stepBatch,
 * generate for 1 and B sequences, and a prefill that throws — leaves the pool holding exactly what it
 * held after load (the weights and the KV cache, whose buffers fork may grow) plus what the caller was
 * handed and has not released. Plain and 4-bit weights take different kernels (and so different
 * scratch), so both run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctx } from '../gpu/testing/kernel-suite';
import { generate } from './generate';
import { ENGINE_Q4, loadWeights } from './load';
import { openFixture, readGoldenFrames, readGoldenIndex } from './testing/goldens';
import { qwenTokenizer } from './testing/qwen-tokenizer';
import { TinyLlavaVideo } from './tinyllava';

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198, 151644, 77091, 198];
const sampling = { temperature: 0.7, topK: 20, topP: 0.9, repetitionPenalty: 1.1, seed: 1, maxNewTokens: 3 };

for (const quantize of [null, ENGINE_Q4]) {
  describe(`tensor lifetimes, tiny-a, ${quantize ? '4-bit' : 'plain'} (${ctx.actDtype})`, () => {
    let model: TinyLlavaVideo;
    /** Buffers in use beyond the KV cache's: the weights (and the caller's tensors). */
    const inUse = () => ({ count: ctx.pool.inUseCount, bytes: ctx.pool.inUseBytes - model.llm.cacheBytes });
    let loaded: ReturnType<typeof inUse>;

    beforeAll(async () => {
      const ckpt = await openFixture('tiny-a');
      model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt, undefined, { quantize }), 2);
      loaded = inUse();
    });
    afterAll(() => model?.destroy());

    it('every path leaves only the weights, the KV cache and what the caller holds', async () => {
      const index = readGoldenIndex('tiny-a');
      const pixels = ctx.upload(readGoldenFrames(index), index.frames.shape, ctx.actDtype);
      const features = model.visionFeatures(pixels); // F > framesPerPass: several tower passes
      ctx.release(pixels);
      const visual = model.connector(features);
      ctx.release(features);
      expect(inUse()).toEqual({ count: loaded.count + 1, bytes: loaded.bytes + visual.buffer.size });

      let logits = model.prefill(before, visual, after);
      ctx.release(logits);
      logits = model.step(100);
      ctx.release(logits);
      model.fork(3); // grows the cache buffers: the old ones go back to the pool
      logits = model.stepBatch([1, 2, 3]);
      expect(logits.shape).toEqual([3, model.config.text.vocab]);
      await ctx.read(logits);
      ctx.release(logits);
      ctx.tidy(() => model.fork(4)); // grown inside a scope: the new cache buffers must outlive it
      ctx.release(model.stepBatch([1, 2, 3, 4]));
      model.fork(2); // within capacity: a scratch copy of sequence 0
      ctx.release(model.stepBatch([4, 5]));
      ctx.release(model.prefill(before, null, after)); // text only
      expect(inUse()).toEqual({ count: loaded.count + 1, bytes: loaded.bytes + visual.buffer.size });

      const tokenizer = qwenTokenizer();
      const req = { before, after, visual, sampling, eosIds: [] };
      expect((await generate(model, tokenizer, req)).stats.steps).toBe(3);
      await generate(model, tokenizer, { ...req, batch: 2 });
      ctx.release(visual);
      expect(inUse()).toEqual(loaded);

      // A failure mid-recording (context full after the embeddings were made) releases them too.
      const tooLong = Array.from({ length: model.config.maxLength + 1 }, () => 13);
      expect(() => model.prefill(tooLong, null, [])).toThrow(/context full/);
      expect(inUse()).toEqual(loaded);
      expect(ctx.scopeDepth).toBe(0);
      await ctx.sync();
    });
  });
}
