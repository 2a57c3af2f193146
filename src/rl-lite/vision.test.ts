/**
 * Training the vision tower (tiny-b: 112 px, patch 14, 3 SigLIP layers of which 2 run, in f32): the
 * trainer's forward gives the model's features; gradients of Σ G·features for tower weights of every
 * kind — position embedding, LayerNorms, q/v/out projections and biases, the MLP — match central
 * differences of the tower; and in a full fine-tuning the gradient of L = Σ g·logp reaches the patch
 * embedding through the LLM and the connector's input, matching central differences of the model.
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
const FRAMES = 2;

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

  /** Central difference of `loss` at the largest entry of `name`'s accumulated gradient, against it. */
  const check = async (name: string, loss: () => Promise<number>) => {
    const param = trainer.params.find((q) => q.name.endsWith(`vision_model.${name}`))!;
    expect(param, name).toBeDefined();
    const analytic = await ctx.read(param.g);
    const i = largestEntry(analytic);
    expect(Math.abs(analytic[i]), `${name}: all zero`).toBeGreaterThan(1e-5);
    const numeric = await centralDifference(ctx, param.p, i, 1e-2, loss);
    expect(Math.abs(numeric - analytic[i]), `${name} [${i}]: ${numeric} vs ${analytic[i]}`).toBeLessThan(
      2e-5 + 0.03 * Math.abs(analytic[i]),
    );
  };
  const zeroGrads = () => {
    for (const { g: grad } of trainer.params)
      ctx.device.queue.writeBuffer(grad.buffer, 0, new Float32Array(grad.size));
  };

  it('tower weight gradients of Σ G·features match central differences of the tower', async () => {
    const vision = trainer.vision!;
    const shape = vision.forward(pixels).shape;
    const G = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.29));
    zeroGrads();
    vision.backward(pixels, ctx.upload(G, shape, 'f32'));
    const loss = async () => (await ctx.read(vision.forward(pixels))).reduce((s, v, i) => s + G[i] * v, 0);
    for (const name of [
      'embeddings.patch_embedding.bias',
      'embeddings.position_embedding.weight',
      'encoder.layers.0.layer_norm1.weight',
      'encoder.layers.0.self_attn.q_proj.bias', // (k_proj.bias has none: softmax ignores a shift of every key)
      'encoder.layers.1.self_attn.v_proj.weight',
      'encoder.layers.1.self_attn.out_proj.bias',
      'encoder.layers.1.layer_norm2.bias',
      'encoder.layers.1.mlp.fc1.weight',
      'encoder.layers.0.mlp.fc2.weight',
    ])
      await check(name, loss);
    expect(gpuErrors).toEqual([]);
  });

  it('the whole model’s gradient reaches the tower through the connector’s input', async () => {
    const g = Float32Array.from(targets, (_, j) => 0.6 - 0.4 * j);
    zeroGrads();
    await trainer.backward(prompt, targets, () => g);
    await check('embeddings.patch_embedding.weight', async () => {
      const lp = await trainer.logprobs(prompt, targets);
      return lp.reduce((s, v, j) => s + g[j] * v, 0);
    });
    expect(gpuErrors).toEqual([]);
  });
});
