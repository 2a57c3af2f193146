/**
 * The 4-bit engine against the bf16 reference: the fixtures loaded with their LLM and connector
 * Linear weights quantized on the GPU, logits of the last prompt position and 8 teacher-forced decode
 * steps compared with the PyTorch goldens. Reports KL(reference ‖ quantized) and top-1 agreement per
 * scheme and group size; the bounds below are the measured values with a margin.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ctx } from '../gpu/testing/kernel-suite';
import { type LoadOptions, loadWeights } from './load';
import { openFixture, readGoldenFrames, readGoldenIndex, readGoldenTensor } from './testing/goldens';
import { TinyLlavaVideo } from './tinyllava';

function logSoftmax(x: ArrayLike<number>): Float64Array {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  const lse = m + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

/** KL(p ‖ q) in nats from logits. */
export function klFromLogits(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  const lp = logSoftmax(ref);
  const lq = logSoftmax(got);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
  return kl;
}

const argmax = (x: ArrayLike<number>) => {
  let a = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[a]) a = i;
  return a;
};

// Measured on lavapipe (mean over 9 positions), layer weights only: tiny-a sym g32 KL 0.236, asym g32
// 0.189, sym g64 0.246, asym g64 0.241 nats; tiny-b sym g32 4.7, asym g32 3.2 — so the engine quantizes
// with ENGINE_Q4 = asymmetric groups of 32 (load.ts). With the vocabulary tables 4-bit as well (what the
// engine does: 622 MB → 194 MB at full size): tiny-a asym g32 0.224, tiny-b 3.14. tiny-b's random weights (3 layers, larger init, logits up to ±54)
// amplify the 8–10 % per-weight error far more than a trained model's would.
const KL_BOUND = { 'tiny-a': 0.4, 'tiny-b': 6 } as const;
const SCHEMES: [string, LoadOptions][] = [
  ['sym g32', { quantize: { scheme: 'sym', groupSize: 32 } }],
  ['asym g32', { quantize: { scheme: 'asym', groupSize: 32 } }],
  // The engine's choice with the vocabulary tables (embedding, tied lm_head) kept in the activation dtype.
  ['asym g32, tables f16', { quantize: { scheme: 'asym', groupSize: 32 }, quantizeTables: false }],
];

const rows: string[] = [];
afterAll(() => console.log(`4-bit vs bf16 reference (${ctx.actDtype}):\n${rows.join('\n')}`));

for (const fixture of ['tiny-a', 'tiny-b'] as const) {
  describe(`4-bit ${fixture}`, () => {
    for (const [label, q] of SCHEMES) {
      it(label, async () => {
        const index = readGoldenIndex(fixture);
        const ckpt = await openFixture(fixture);
        const model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt, undefined, q), 2);
        try {
          const pixels = ctx.upload(readGoldenFrames(index), index.frames.shape, ctx.actDtype);
          const features = model.visionFeatures(pixels);
          const visual = model.connector(features);
          ctx.release(pixels, features);
          const golden = readGoldenTensor(fixture, index.tensors.logits);
          const V = index.tensors.logits.shape[1];
          let logits = model.prefill(index.prompt.part0Ids, visual, index.prompt.part1Ids);
          ctx.release(visual);
          let kl = 0;
          let agree = 0;
          const steps = index.decode.greedyIds.length;
          for (let s = 0; s < steps; s++) {
            const row = await ctx.read(logits);
            ctx.release(logits);
            const ref = golden.subarray(s * V, (s + 1) * V);
            kl += klFromLogits(ref, row) / steps;
            if (argmax(row) === argmax(ref)) agree++;
            logits = model.step(index.decode.greedyIds[s]);
          }
          ctx.release(logits);
          rows.push(`  ${fixture} ${label}: mean KL ${kl.toExponential(2)} nats, top-1 ${agree}/${steps}`);
          // Random tiny fixtures are a harsh test: their top-2 margins (0.04–0.9) are below the 4-bit noise,
          // so top-1 agreement is reported, and the bound is on KL.
          expect(kl).toBeLessThan(KL_BOUND[fixture]);
        } finally {
          model.destroy();
        }
      });
    }
  });
}
