/**
 * The connector's backward on the tiny-b fixture (2 resampler layers, chunks that cross frames), in
 * f32: the trainer's forward is the model's connector, and the gradients of L = Σ g·tokens match
 * central differences of the model's own connector for every kind of weight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../gpu/tensor';
import { closeNodeGpu, gpuErrors, nodeGpuContext } from '../gpu/testing/node-gpu';
import { loadWeights } from '../model/load';
import { openFixture } from '../model/testing/goldens';
import { TinyLlavaVideo } from '../model/tinyllava';
import { ConnectorTrainer } from './connector';
import { centralDifference, largestEntry } from './testing/central-diff';

const ctx = await nodeGpuContext({ disableF16: true });
afterAll(() => closeNodeGpu(ctx));

describe('connector backward (tiny-b, f32)', () => {
  let model: TinyLlavaVideo;
  let trainer: ConnectorTrainer;
  let features: Tensor;
  let g: Float32Array;
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-b');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    trainer = new ConnectorTrainer(ctx, model);
    const F = 6;
    const P = 63;
    const Cv = ckpt.config.vision.hidden;
    features = ctx.upload(
      new Float32Array(F * P * Cv).map((_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 1.91)),
      [F, P, Cv],
      'f32',
    );
    const { numQueries, dim } = ckpt.config.connector;
    g = new Float32Array(numQueries * dim).map((_, i) => Math.sin(i * 0.71 + 0.2));
  });
  afterAll(() => {
    trainer?.destroy();
    model?.destroy();
  });

  const loss = async () => {
    const t = model.connector(features);
    const y = await ctx.read(t);
    ctx.release(t);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += g[i] * y[i];
    return s;
  };

  it('recomputes the model’s connector', async () => {
    const want = model.connector(features);
    const got = trainer.forward(features);
    const [a, b] = [await ctx.read(want), await ctx.read(got)];
    ctx.release(want, got);
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
    expect(err).toBeLessThan(1e-5);
  });

  it('weight gradients match central differences of the forward', async () => {
    trainer.zeroGrads();
    const dTokens = ctx.upload(g, [g.length / trainer.c.dim, trainer.c.dim], 'f32');
    trainer.backward(features, dTokens);
    ctx.release(dTokens);
    const names = [
      'linear.weight',
      'linear.bias',
      'latents',
      'layers.0.0.norm_media.weight',
      'layers.0.0.to_k.weight',
      'layers.0.0.to_out.weight',
      'layers.0.1.0.weight',
      'layers.0.1.3.weight',
      'layers.1.0.norm_latents.bias',
      'layers.1.0.to_q.weight',
      'layers.1.0.to_v.weight',
      'layers.1.1.1.weight',
      'norm.weight',
    ];
    const h = 1e-2;
    for (const name of names) {
      const param = trainer.params.find((q) => q.name.endsWith(name))!.p;
      const analytic = await ctx.read(trainer.grad(name));
      const top = largestEntry(analytic);
      expect(Math.abs(analytic[top]), `${name}: all zero`).toBeGreaterThan(1e-3);
      const numeric = await centralDifference(ctx, param, top, h, loss);
      expect(
        Math.abs(numeric - analytic[top]),
        `${name} [${top}]: ${numeric} vs ${analytic[top]}`,
      ).toBeLessThan(2e-3 + 0.02 * Math.abs(analytic[top]));
    }
    expect(gpuErrors).toEqual([]);
  });
});
