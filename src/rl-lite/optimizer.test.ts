/**
 * AdamW over a list of parameters: a tensor's lrScale scales its step (torch's param groups). Adam's
 * first step moves each element by lr · m̂/(√v̂ + ε) = lr · sign(g) (ε aside), so the moves are exact.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ADAMW_DEFAULTS } from '../gpu/kernels/adamw';
import { closeNodeGpu, gpuErrors, nodeGpuContext } from '../gpu/testing/node-gpu';
import { AdamW, learningRate } from './optimizer';

const ctx = await nodeGpuContext({ disableF16: true });
afterAll(() => closeNodeGpu(ctx));

describe('AdamW', () => {
  it('steps each tensor by its lrScale times the learning rate', async () => {
    const n = 37; // not a multiple of a workgroup
    const grad = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -1 : 1) * (0.5 + i / n));
    const param = (lrScale?: number) => ({
      name: 'w',
      p: ctx.upload(new Float32Array(n).fill(1), [n], 'f32'),
      g: ctx.upload(grad, [n], 'f32'),
      lrScale,
    });
    const params = [param(), param(0.25), param(0)];
    const config = {
      ...ADAMW_DEFAULTS,
      lr: 1e-2,
      weightDecay: 0,
      maxGradNorm: 0,
      schedule: 'constant' as const,
      warmupRatio: 0,
      totalSteps: 1,
    };
    const opt = new AdamW(ctx, params, config);
    await opt.update();
    for (const [k, scale] of [1, 0.25, 0].entries()) {
      const w = await ctx.read(params[k].p);
      for (let i = 0; i < n; i++)
        expect(w[i], `tensor ${k} [${i}]`).toBeCloseTo(
          1 - learningRate(config, 1) * scale * Math.sign(grad[i]),
          6,
        );
    }
    opt.destroy();
    for (const q of params) ctx.release(q.p, q.g);
    expect(gpuErrors).toEqual([]);
  });
});
