/**
 * Training the vision tower (tiny-b: 112 px, patch 14, 3 SigLIP layers of which 2 run, in f32): the
 * trainer's forward gives the model's features, and with the tower in a full fine-tuning, gradients
 * of L = Σ g·logp for tower weights of every kind — patch and position embeddings, LayerNorms, q/k/v
 * and out projections, the MLP — match central differences of the whole model's forward (the
 * gradient reaches them through the LLM, the connector's input and the non-causal attention).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../gpu/tensor';
import { closeNodeGpu, gpuErrors, nodeGpuContext } from '../gpu/testing/node-gpu';
import { loadWeights } from '../model/load';
import { openFixture } from '../model/testing/goldens';
import { TinyLlavaVideo } from '../model/tinyllava';
import { type FeaturePrompt, FullTrainer } from './full';
import { centralDifference, largestEntry } from './testing/central-diff';

const ctx = await nodeGpuContext({ disableF16: true });
afterAll(() => closeNodeGpu(ctx));

const before = [151644, 8948, 198];
const after = [13, 198];
const targets = [198, 77091, 40];
const FRAMES = 6;

describe('vision tower training (tiny-b, f32)', () => {
  let model: TinyLlavaVideo;
  let trainer: FullTrainer;
  let pixels: Tensor;
  let prompt: FeaturePrompt;
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-b');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), FRAMES);
    trainer = new FullTrainer(ctx, model, { vision: true });
    const S = ckpt.config.vision.imageSize;
    pixels = ctx.upload(
      new Float32Array(FRAMES * 3 * S * S).map((_, i) => Math.sin(i * 0.013) + 0.4 * Math.cos(i * 0.71)),
      [FRAMES, 3, S, S],
      'f32',
    );
    prompt = { before, features: null, pixels, after };
  });
  afterAll(() => {
    trainer?.destroy();
    model?.destroy();
  });

  it('computes the model’s features', async () => {
    const want = await ctx.read(model.visionFeatures(pixels));
    const got = await ctx.read(trainer.vision!.forward(pixels));
    expect(got.length).toBe(want.length);
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(want[i] - got[i]));
    expect(err).toBeLessThan(1e-4);
  });

  const g = Float32Array.from(targets, (_, j) => 0.6 - 0.4 * j);
  const loss = async () => {
    const lp = await trainer.logprobs(prompt, targets);
    return lp.reduce((s, v, j) => s + g[j] * v, 0);
  };

  it('tower weight gradients match central differences of the whole forward', async () => {
    for (const { g: grad } of trainer.params)
      ctx.device.queue.writeBuffer(grad.buffer, 0, new Float32Array(grad.size));
    await trainer.backward(prompt, targets, () => g);
    const checks = [
      'embeddings.patch_embedding.weight',
      'embeddings.patch_embedding.bias',
      'embeddings.position_embedding.weight',
      'encoder.layers.0.layer_norm1.weight',
      'encoder.layers.0.self_attn.q_proj.bias', // (k_proj.bias has none: softmax ignores a shift of every key)
      'encoder.layers.1.self_attn.v_proj.weight',
      'encoder.layers.1.layer_norm2.bias',
      'encoder.layers.1.mlp.fc1.weight',
      'encoder.layers.0.mlp.fc2.weight',
    ];
    const h = 1e-2;
    for (const name of checks) {
      const param = trainer.params.find((q) => q.name.endsWith(`vision_model.${name}`))!;
      expect(param, name).toBeDefined();
      const analytic = await ctx.read(param.g);
      const i = largestEntry(analytic);
      expect(Math.abs(analytic[i]), `${name}: all zero`).toBeGreaterThan(1e-5);
      const numeric = await centralDifference(ctx, param.p, i, h, loss);
      expect(Math.abs(numeric - analytic[i]), `${name} [${i}]: ${numeric} vs ${analytic[i]}`).toBeLessThan(
        2e-5 + 0.03 * Math.abs(analytic[i]),
      );
    }
    expect(gpuErrors).toEqual([]);
  });
});
