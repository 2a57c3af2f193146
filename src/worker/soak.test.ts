/**
 * A small soak on Dawn (issue 15): 8 questions and 4 video swaps on the shipped demo model and 4 GRPO
 * steps in one engine (4 / 2 / 2 on SwiftShader); the device's live GPU buffers (every one, counted at
 * createBuffer) and the JS heap must not grow from the first iterations to the last. `npm run soak`
 * runs the full counts.
 */
import { describe, expect, it } from 'vitest';
import { ctx } from '../gpu/testing/kernel-suite';
import { asPickedFiles, fixtureFiles } from '../model/testing/goldens';
import { runSoak, verdict } from './testing/soak';

describe(`soak (${ctx.actDtype})`, () => {
  it('questions, video swaps and GRPO steps hold GPU memory and heap flat', async () => {
    // SwiftShader (the f32 path) is several times slower: fewer iterations there; a leak of one buffer
    // per iteration still shows between the first and the last.
    const [questions, swaps, grpoSteps] = ctx.summary.f16 ? [8, 4, 4] : [4, 2, 2];
    const phases = await runSoak(ctx, {
      questions,
      swaps,
      grpoSteps,
      maxNewTokens: 4,
      modelFiles: asPickedFiles(fixtureFiles('tiny-a')),
      frames: 4,
      log: process.env.SOAK_LOG ? console.log : undefined,
    });
    if (process.env.SOAK_LOG)
      for (const p of phases) console.log(p.name, Math.round(p.ms), verdict(p.samples));
    expect(phases.map((p) => [p.name, p.samples.length])).toEqual([
      ['questions', questions],
      ['swaps', swaps],
      ['grpo', grpoSteps],
    ]);
    for (const p of phases) expect({ phase: p.name, ...verdict(p.samples) }).toMatchObject({ ok: true });
  }, 300_000);

  it('the verdict catches one leaked buffer per iteration', () => {
    const flat = Array.from({ length: 10 }, () => ({
      gpuBytes: 1000,
      gpuBuffers: 10,
      pooledBytes: 0,
      heapBytes: 5e7,
    }));
    expect(verdict(flat).ok).toBe(true);
    const leak = flat.map((s, i) => ({ ...s, gpuBytes: s.gpuBytes + 256 * i, gpuBuffers: s.gpuBuffers + i }));
    expect(verdict(leak)).toMatchObject({ ok: false, gpuBuffersGrowth: 5, gpuBytesGrowth: 1280 });
  });
});
