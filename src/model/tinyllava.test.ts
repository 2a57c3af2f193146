/**
 * The whole model on our kernels against the independent PyTorch reference (scripts/reference/,
 * goldens in test-data/goldens/model/): vision features, connector output, and the logits of the
 * last prompt position plus 8 greedy decode steps (teacher-forced with the reference's ids), for two
 * fixture geometries, on the adapter of this run (f16 on lavapipe, f32 on SwiftShader).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstMismatch, maxAbsDiff } from '../gpu/compare';
import { ctx } from '../gpu/testing/kernel-suite';
import { loadWeights } from './load';
import {
  FIXTURE_NAMES,
  openFixture,
  readGoldenFrames,
  readGoldenIndex,
  readGoldenTensor,
} from './testing/goldens';
import { TinyLlavaVideo } from './tinyllava';

/**
 * Tolerances relative to each tensor's scale (max |golden|): f32 differs from the reference only by
 * summation order; f16 stores weights and activations in f16 (≈ 1e-3 relative per op, compounding
 * through the layers).
 */
const REL = ctx.actDtype === 'f32' ? 2e-4 : 3e-2;

function closeRel(name: string, actual: Float32Array, golden: Float32Array) {
  let scale = 0;
  for (const v of golden) scale = Math.max(scale, Math.abs(v));
  const miss = firstMismatch(actual, golden, { atol: REL * scale, rtol: 0 });
  expect(
    miss,
    `${name} (max |diff| ${maxAbsDiff(actual, golden).toExponential(2)}, scale ${scale.toFixed(3)}): ${miss}`,
  ).toBeNull();
}

for (const fixture of FIXTURE_NAMES) {
  describe(`TinyLLaVA-Video ${fixture} vs PyTorch reference (${ctx.actDtype})`, () => {
    const index = readGoldenIndex(fixture);
    let model: TinyLlavaVideo;
    beforeAll(async () => {
      const ckpt = await openFixture(fixture);
      model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    });
    afterAll(() => model?.destroy());

    let features: Awaited<ReturnType<TinyLlavaVideo['visionFeatures']>>;
    let visual: Awaited<ReturnType<TinyLlavaVideo['connector']>>;

    it('vision features', async () => {
      const frames = readGoldenFrames(index);
      const pixels = ctx.upload(frames, index.frames.shape, ctx.actDtype);
      features = model.visionFeatures(pixels);
      ctx.release(pixels);
      expect(features.shape).toEqual(index.tensors.visionFeatures.shape);
      closeRel(
        'vision features',
        await ctx.read(features),
        readGoldenTensor(fixture, index.tensors.visionFeatures),
      );
    });

    it('connector output', async () => {
      visual = model.connector(features);
      expect(visual.shape).toEqual(index.tensors.connectorOutput.shape);
      closeRel('connector', await ctx.read(visual), readGoldenTensor(fixture, index.tensors.connectorOutput));
    });

    it('prefill + 8 decode steps: logits and greedy ids', async () => {
      const golden = readGoldenTensor(fixture, index.tensors.logits);
      const V = index.tensors.logits.shape[1];
      const { greedyIds } = index.decode;
      let logits = model.prefill(index.prompt.part0Ids, visual, index.prompt.part1Ids);
      expect(model.llm.length).toBe(index.sequence.promptLength);
      for (let step = 0; step <= greedyIds.length - 1; step++) {
        const row = await ctx.read(logits);
        ctx.release(logits);
        closeRel(`logits step ${step}`, row, golden.subarray(step * V, (step + 1) * V));
        let argmax = 0;
        for (let i = 1; i < V; i++) if (row[i] > row[argmax]) argmax = i;
        // Where the reference's top-2 margin is tiny, f16 may legitimately pick the runner-up.
        if (ctx.actDtype === 'f32' || index.decode.margins[step] > 0.05)
          expect(argmax, `greedy id at step ${step}`).toBe(greedyIds[step]);
        logits = model.step(greedyIds[step]);
      }
      ctx.release(logits);
    });
  });
}
