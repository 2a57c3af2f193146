/**
 * The residual stream past f16's range: tiny-a with weights edited so one channel of the decoder's
 * residual stream reaches ~120000 in layer 0 and comes back in layer 1 (Qwen2-style massive
 * activations; see scripts/reference/make_overflow_goldens.py). The stream is f32 on every path, so
 * the logits of prefill (GEMM), decode (GEMV) and batched decode must match the float32 PyTorch
 * reference on the f16 path too; an f16 stream would hold inf there and the logits would be NaN.
 */
import { describe, expect, it } from 'vitest';
import { ctx } from '../gpu/testing/kernel-suite';
import { ENGINE_Q4, type LoadOptions, loadWeights } from './load';
import { openOverflowFixture, readOverflowGolden } from './testing/overflow-fixture';
import { TinyLlavaVideo } from './tinyllava';

const { index, logits: golden } = readOverflowGolden();
const [R, S] = index.logits.shape;
const { stride } = index.logits;

/**
 * Error bounds relative to the largest |reference logit| compared. Plain weights: f32 holds the 120000
 * to 2⁻⁷ ≈ 0.008, an absolute error that channel CH keeps after layer 1 takes the value back down (the
 * reference has its own), ≈ 7e-3 of the logits' scale as measured on SwiftShader; f16 adds f16 weights
 * and activations (as the tinyllava goldens). 4-bit: the quantization error of random weights (measured
 * ≤ 0.21).
 */
const REL = { plain: ctx.actDtype === 'f32' ? 1e-2 : 3e-2, q4: 0.3 };

/** Row `s` of the logits at the ids the goldens keep (every stride-th id and the top ids) vs the reference. */
function compare(label: string, got: Float32Array, s: number, rel: number): number {
  const ids: number[] = [];
  const ref: number[] = [];
  for (let j = 0; j < S; j++) {
    ids.push(j * stride);
    ref.push(golden[s * S + j]);
  }
  const top = index.decode.top[s];
  ids.push(...top.ids);
  ref.push(...top.logits);
  let bad = 0;
  for (const v of got) if (!Number.isFinite(v)) bad++;
  expect(bad, `${label}: ${bad} of ${got.length} logits not finite (first: ${got[0]})`).toBe(0);
  const scale = Math.max(...ref.map(Math.abs));
  let worst = 0;
  for (const [i, id] of ids.entries()) worst = Math.max(worst, Math.abs(got[id] - ref[i]) / scale);
  expect(worst, `${label}: max |diff| / max |ref| (scale ${scale.toFixed(2)})`).toBeLessThan(rel);
  return worst;
}

const argmax = (x: Float32Array) => x.reduce((a, v, i) => (v > x[a] ? i : a), 0);

const CASES: [string, LoadOptions, number][] = [
  ['plain weights', {}, REL.plain],
  ['4-bit weights (engine format)', { quantize: ENGINE_Q4 }, REL.q4],
];

describe(`residual stream past f16's range (tiny-a, ${ctx.actDtype})`, () => {
  it('the fixture overflows f16 in the reference', () => {
    expect(index.residualPeak).toBeGreaterThan(65504);
    expect(R).toBe(index.decode.steps + 1);
  });

  for (const [label, opts, rel] of CASES) {
    it(`${label}: prefill, decode and batched decode match the reference`, async () => {
      const ckpt = await openOverflowFixture(index);
      const model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt, undefined, opts), 2);
      const errs: string[] = [];
      try {
        const { greedyIds, margins } = index.decode;
        let logits = model.prefill(index.promptIds, null, []);
        for (let s = 0; s < R - 1; s++) {
          const row = await ctx.read(logits);
          ctx.release(logits);
          errs.push(compare(`${label}, row ${s}`, row, s, rel).toExponential(1));
          if (opts.quantize === undefined && margins[s] > 0.05) expect(argmax(row)).toBe(greedyIds[s]);
          logits = model.step(greedyIds[s]);
        }
        // The last row as two sequences stepped together (one GEMV over both rows).
        ctx.release(logits);
        ctx.release(model.prefill(index.promptIds, null, []));
        for (let s = 0; s < R - 2; s++) ctx.release(model.step(greedyIds[s]));
        model.fork(2);
        const both = model.stepBatch([greedyIds[R - 2], greedyIds[R - 2]]);
        const V = both.shape[1];
        const rows = await ctx.read(both);
        ctx.release(both);
        for (const b of [0, 1])
          errs.push(
            compare(`${label}, batch ${b}`, rows.subarray(b * V, (b + 1) * V), R - 1, rel).toExponential(1),
          );
      } finally {
        model.destroy();
      }
      console.log(`overflow fixture, ${label} (${ctx.actDtype}): relative errors ${errs.join(' ')}`);
    });
  }
});
