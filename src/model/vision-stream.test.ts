/**
 * Streamed vision features (frames arriving one by one, out of order, chunk by chunk) against
 * TinyLlavaVideo.visionFeatures on the whole tensor (the same stream fed in order, in one pass per
 * chunk), on the tiny-a fixture: they must be bit-equal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../gpu/tensor';
import { ctx } from '../gpu/testing/kernel-suite';
import { loadWeights } from './load';
import { openFixture, readGoldenFrames, readGoldenIndex } from './testing/goldens';
import { TinyLlavaVideo } from './tinyllava';
import { VisionStream, visionChunks } from './vision-stream';

describe('visionChunks', () => {
  it('matches visionFeatures: one pass up to framesPerPass, then passes of n and a short last one', () => {
    expect(visionChunks(3, 4)).toEqual([[0, 3]]);
    expect(visionChunks(4, 4)).toEqual([[0, 4]]);
    expect(visionChunks(10, 4)).toEqual([
      [0, 4],
      [4, 4],
      [8, 2],
    ]);
    expect(() => visionChunks(0, 4)).toThrow();
  });
});

describe(`VisionStream on tiny-a (${ctx.actDtype})`, () => {
  let model: TinyLlavaVideo;
  let golden: Float32Array;
  let S: number;
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-a');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    golden = readGoldenFrames(readGoldenIndex('tiny-a'));
    S = ckpt.config.vision.imageSize;
  });
  afterAll(() => model?.destroy());

  /** F frames cycling through the 4 golden ones, as one [F, 3, S, S] tensor. */
  function pixelsOf(F: number): Tensor {
    const plane = 3 * S * S;
    const data = new Float32Array(F * plane);
    for (let f = 0; f < F; f++) data.set(golden.subarray((f % 4) * plane, ((f % 4) + 1) * plane), f * plane);
    return ctx.upload(data, [F, 3, S, S], ctx.actDtype);
  }

  /** Feeds frames of `all` into a stream in `order` (each frame copied into its chunk's row). */
  function stream(all: Tensor, order: number[], framesPerPass: number): { s: VisionStream; ran: number[] } {
    const s = new VisionStream({ ...model, framesPerPass, preprocess: model.preprocess }, all.shape[0]);
    const ran: number[] = [];
    for (const f of order) if (s.addPixels(f, all, f)) ran.push(s.locate(f).chunk);
    return { s, ran };
  }

  const cases: [string, number, number, number[]][] = [
    ['5 frames, passes of 2, out of order', 5, 2, [3, 0, 4, 2, 1]],
    ['3 frames, one pass', 3, 4, [1, 2, 0]],
  ];
  for (const [name, F, pass, order] of cases) {
    it(`${name}: bit-equal to visionFeatures`, async () => {
      const all = pixelsOf(F);
      const batchModel = new TinyLlavaVideo(ctx, model.config, model.weights, pass);
      const batch = batchModel.visionFeatures(all);
      const { s, ran } = stream(all, order, pass);
      expect(s.complete).toBe(true);
      expect(s.framesDone).toBe(F);
      expect(ran.length).toBe(visionChunks(F, pass).length);
      const streamed = s.features();
      expect(streamed.shape).toEqual(batch.shape);
      expect(streamed.dtype).toBe(batch.dtype);
      const [a, b] = [await ctx.readU32(streamed), await ctx.readU32(batch)];
      expect(a.length).toBe(b.length);
      expect(
        Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
          Buffer.from(b.buffer, b.byteOffset, b.byteLength),
        ),
      ).toBe(true);
      ctx.release(all, batch);
      s.dispose();
      // Not model.destroy(): batchModel shares the weights (and its Qwen2 owns no extra GPU memory worth freeing in a test).
    });
  }

  it('is incomplete until every chunk ran; dispose drops pending pixels and refuses further use', () => {
    const all = pixelsOf(5);
    const { s, ran } = stream(all, [0, 1, 4], 2);
    expect(ran).toEqual([0, 2]);
    expect(s.complete).toBe(false);
    expect(s.framesDone).toBe(3);
    expect(() => s.features()).toThrow(/3 of 5/);
    s.addPixels(2, all, 2); // allocates chunk 1's pixels
    s.dispose();
    expect(s.isDisposed).toBe(true);
    expect(() => s.addPixels(3, all, 3)).toThrow(/disposed/);
    s.dispose();
    ctx.release(all);
  });

  it('rejects frames outside the video, frames added twice and pixels of another shape', () => {
    const all = pixelsOf(2);
    const s = new VisionStream({ ...model, framesPerPass: 1, preprocess: model.preprocess }, 4);
    expect(() => s.locate(4)).toThrow();
    expect(() => s.addPixels(4, all, 0)).toThrow(/frame 4 of 4/);
    s.addPixels(0, all, 0);
    s.addPixels(1, all, 0);
    expect(() => s.addPixels(1, all, 1)).toThrow(/added twice/);
    const other = ctx.empty([1, 3, S + 1, S + 1], ctx.actDtype);
    expect(() => s.addPixels(2, other, 0)).toThrow(/pixels/);
    s.dispose();
    ctx.release(all, other);
  });
});
