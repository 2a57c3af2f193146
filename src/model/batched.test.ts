/**
 * Batched decode (GRPO rollouts): a prompt prefilled once and forked into B sequences must give, row
 * by row, the logits of B separate single-sequence runs with the same tokens — over several steps, so
 * each sequence's own cache rows are checked, and again after a reset (cache buffers reused).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstMismatch, maxAbsDiff } from '../gpu/compare';
import { ctx } from '../gpu/testing/kernel-suite';
import { ENGINE_Q4, loadWeights } from './load';
import { openFixture } from './testing/goldens';
import { TinyLlavaVideo } from './tinyllava';

// Batched rows run through the same kernels with more rows (GEMM instead of GEMV past 4): only the
// summation order may differ.
const REL = ctx.actDtype === 'f32' ? 1e-4 : 2e-2;

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198, 151644, 77091, 198];
// A second prompt, so stale cache rows of the first could not pass for copied ones.
const after2 = [30, 40, 50, 151645, 198];

async function single(model: TinyLlavaVideo, tokens: number[], tail = after): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  let logits = model.prefill(before, null, tail);
  ctx.release(logits);
  for (const id of tokens) {
    logits = model.step(id);
    out.push(await ctx.read(logits));
    ctx.release(logits);
  }
  return out;
}

async function batched(model: TinyLlavaVideo, steps: number[][], tail = after): Promise<Float32Array[][]> {
  const B = steps[0].length;
  const logits0 = model.prefill(before, null, tail);
  ctx.release(logits0);
  model.fork(B);
  const out: Float32Array[][] = [];
  for (const ids of steps) {
    const logits = model.stepBatch(ids);
    expect(logits.shape).toEqual([B, model.config.text.vocab]);
    out.push(Array.from({ length: B }, () => new Float32Array()));
    const all = await ctx.read(logits);
    const V = model.config.text.vocab;
    for (let b = 0; b < B; b++) out[out.length - 1][b] = all.subarray(b * V, (b + 1) * V);
    ctx.release(logits);
  }
  return out;
}

function close(label: string, got: Float32Array, want: Float32Array) {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  const miss = firstMismatch(got, want, { atol: REL * scale, rtol: 0 });
  expect(miss, `${label}: max |diff| ${maxAbsDiff(got, want).toExponential(2)}, scale ${scale}`).toBeNull();
}

for (const quantize of [null, ENGINE_Q4]) {
  describe(`batched decode, tiny-a, ${quantize ? '4-bit' : 'plain'} (${ctx.actDtype})`, () => {
    let model: TinyLlavaVideo;
    beforeAll(async () => {
      const ckpt = await openFixture('tiny-a');
      model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt, undefined, { quantize }));
    });
    afterAll(() => model?.destroy());

    // Rows diverge at the first step and again at the third (token ids differ per sequence).
    const steps = [
      [100, 200, 300, 400, 500, 600],
      [7, 7, 7, 7, 7, 7],
      [1000, 1001, 1002, 1003, 1004, 1005],
    ];
    const B = steps[0].length;

    it(`B = ${B} rows equal ${B} single-sequence runs, then again after a reset with B = 2`, async () => {
      const got = await batched(model, steps);
      for (let b = 0; b < B; b++) {
        const want = await single(
          model,
          steps.map((s) => s[b]),
        );
        for (let s = 0; s < steps.length; s++) close(`sequence ${b}, step ${s}`, got[s][b], want[s]);
      }
      // Fewer sequences than the cache holds: a view over the first two, copied through scratch.
      const two = steps.map((s) => s.slice(3, 5));
      const again = await batched(model, two, after2);
      const want = await single(
        model,
        two.map((s) => s[1]),
        after2,
      );
      for (let s = 0; s < two.length; s++) close(`after reset, step ${s}`, again[s][1], want[s]);
    });

    it('rejects a step with the wrong number of ids', () => {
      const logits = model.prefill(before, null, after);
      ctx.release(logits);
      model.fork(2);
      expect(() => model.stepBatch([1, 2, 3])).toThrow(/3 ids for 2 sequences/);
    });
  });
}
