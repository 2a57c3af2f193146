/**
 * Full fine-tuning on the tiny-a fixture (tied embeddings), in f32: gradients of L = Σ g·logp for
 * weights of every kind — projections, a q/k/v bias, norms, the tied embedding table (input rows and
 * lm_head both), and connector weights reached through the visual tokens — match central
 * differences of the forward; an AdamW step over the list raises the log-probs of the targets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAMW_DEFAULTS } from '../gpu/kernels/adamw';
import type { Tensor } from '../gpu/tensor';
import { closeNodeGpu, gpuErrors, nodeGpuContext } from '../gpu/testing/node-gpu';
import { loadWeights } from '../model/load';
import { openFixture } from '../model/testing/goldens';
import { TinyLlavaVideo } from '../model/tinyllava';
import { type FeaturePrompt, FullTrainer } from './full';
import { AdamW } from './optimizer';
import { centralDifference, largestEntry } from './testing/central-diff';

const ctx = await nodeGpuContext({ disableF16: true });
afterAll(() => closeNodeGpu(ctx));

const before = [151644, 8948, 198, 2610];
const after = [13, 198];
const targets = [198, 77091, 2610, 40];

describe('full fine-tuning (tiny-a, f32)', () => {
  let model: TinyLlavaVideo;
  let trainer: FullTrainer;
  let features: Tensor;
  let prompt: FeaturePrompt;
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-a');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    trainer = new FullTrainer(ctx, model);
    const [F, P, Cv] = [1, 728, ckpt.config.vision.hidden];
    features = ctx.upload(
      new Float32Array(F * P * Cv).map((_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 1.91)),
      [F, P, Cv],
      'f32',
    );
    prompt = { before, features, after };
  });
  afterAll(() => {
    trainer?.destroy();
    model?.destroy();
  });

  const g = Float32Array.from(targets, (_, j) => 0.5 - 0.3 * j);
  const loss = async () => {
    const lp = await trainer.logprobs(prompt, targets);
    return lp.reduce((s, v, j) => s + g[j] * v, 0);
  };

  it('weight gradients match central differences of the forward', async () => {
    for (const { g: grad } of trainer.params)
      ctx.device.queue.writeBuffer(grad.buffer, 0, new Float32Array(grad.size));
    await trainer.backward(prompt, targets, () => g);
    const checks: [string, number | null][] = [
      ['model.embed_tokens.weight', 198 * 64 + 5], // an input row that is also a target (tied head)
      ['model.layers.0.self_attn.q_proj.weight', null],
      ['model.layers.0.self_attn.k_proj.bias', null],
      ['model.layers.1.mlp.down_proj.weight', null],
      ['model.layers.0.post_attention_layernorm.weight', null],
      ['model.norm.weight', null],
      ['connector._connector.layers.0.0.to_q.weight', null],
      ['connector._connector.latents', null],
    ];
    const h = 1e-2;
    for (const [name, at] of checks) {
      const param = trainer.params.find((q) => q.name.endsWith(name))!;
      const analytic = await ctx.read(param.g);
      const top = largestEntry(analytic);
      expect(Math.abs(analytic[top]), `${name}: all zero`).toBeGreaterThan(1e-4);
      const i = at ?? top;
      const numeric = await centralDifference(ctx, param.p, i, h, loss);
      expect(Math.abs(numeric - analytic[i]), `${name} [${i}]: ${numeric} vs ${analytic[i]}`).toBeLessThan(
        2e-4 + 0.03 * Math.abs(analytic[i]),
      );
    }
    expect(gpuErrors).toEqual([]);
  });

  it('sequences stacked in one pass give the gradients of one pass each (padding, two lengths)', async () => {
    const other = { before: before.slice(1), features, after: [...after, 13], targets: [77091, 40, 2610] };
    const g2 = Float32Array.from(other.targets, (_, j) => 0.7 - 0.4 * j);
    const grads = async () => Promise.all(trainer.params.map((q) => ctx.read(q.g)));
    const zero = () => {
      for (const { g: grad } of trainer.params)
        ctx.device.queue.writeBuffer(grad.buffer, 0, new Float32Array(grad.size));
    };
    zero();
    const lpA = await trainer.backward(prompt, targets, () => g);
    const lpB = await trainer.backward(other, other.targets, () => g2);
    const want = await grads();
    zero();
    const lps = await trainer.backwardBatch([{ ...prompt, targets }, other], () => [g, g2]);
    const got = await grads();
    expect(Array.from(lps[0])).toEqual(Array.from(lpA, (v) => expect.closeTo(v, 4)));
    expect(Array.from(lps[1])).toEqual(Array.from(lpB, (v) => expect.closeTo(v, 4)));
    for (const [i, { name }] of trainer.params.entries()) {
      let worst = 0;
      for (let j = 0; j < want[i].length; j++)
        worst = Math.max(worst, Math.abs(got[i][j] - want[i][j]) - 1e-3 * Math.abs(want[i][j]));
      expect(worst, name).toBeLessThan(2e-6);
    }
    expect(gpuErrors).toEqual([]);
  });

  it('with the connector frozen its weights are no parameters and the rest get the same gradients', async () => {
    const frozen = new FullTrainer(ctx, model, { connector: false });
    expect(frozen.params.filter((q) => q.name.includes('connector'))).toEqual([]);
    expect(frozen.params.length).toBeLessThan(trainer.params.length);
    for (const t of [trainer, frozen])
      for (const { g: grad } of t.params)
        ctx.device.queue.writeBuffer(grad.buffer, 0, new Float32Array(grad.size));
    await trainer.backward(prompt, targets, () => g);
    await frozen.backward(prompt, targets, () => g);
    for (const { name, g: grad } of frozen.params) {
      const want = await ctx.read(trainer.params.find((q) => q.name === name)!.g);
      expect(Array.from(await ctx.read(grad)), name).toEqual(Array.from(want));
    }
    frozen.destroy();
    expect(gpuErrors).toEqual([]);
  });

  it('AdamW over every parameter raises the targets’ log-probs; the inference model follows', async () => {
    const opt = new AdamW(ctx, trainer.params, {
      ...ADAMW_DEFAULTS,
      lr: 1e-2,
      maxGradNorm: 1,
      schedule: 'constant',
      warmupRatio: 0,
      totalSteps: 2,
    });
    opt.zeroGrads();
    const item = { ...prompt, completion: targets };
    const first = await trainer.sftStep([item], opt);
    const last = await trainer.sftStep([item], opt);
    expect(last.loss).toBeLessThan(first.loss - 0.5);
    // The inference model runs the updated weights once the projections are written back.
    trainer.syncModel();
    const visual = model.connector(features);
    const logits = model.prefill(before, visual, after);
    const row = await ctx.read(logits);
    ctx.release(logits, visual);
    const lp = await trainer.logprobs(prompt, targets);
    let m = Number.NEGATIVE_INFINITY;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    expect(row[targets[0]] - m - Math.log(s)).toBeCloseTo(lp[0], 3);
    opt.destroy();
    expect(gpuErrors).toEqual([]);
  });
});
