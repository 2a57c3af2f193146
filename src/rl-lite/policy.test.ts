/**
 * The trainer's policy on the tiny-a fixture, in f32 (the f16 path's rounding would swamp finite
 * differences): its log-probs equal the inference model's, a fresh adapter changes nothing, the
 * adapter gradients of the backward pass match central differences of its own forward (without
 * dropout, and with LoRA dropout on a fixed training pass, whose masks the differences then share),
 * and an adapter merged into the inference weights gives the policy's log-probs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../gpu/tensor';
import { closeNodeGpu, gpuErrors, nodeGpuContext } from '../gpu/testing/node-gpu';
import { loadWeights } from '../model/load';
import { openFixture } from '../model/testing/goldens';
import { TinyLlavaVideo } from '../model/tinyllava';
import { type DropoutPass, LoraAdapter } from './lora';
import { Policy } from './policy';
import { centralDifference, largestEntry } from './testing/central-diff';

const ctx = await nodeGpuContext({ disableF16: true });
afterAll(() => closeNodeGpu(ctx));

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198];
const targets = [151644, 77091, 198, 40];

/** log-softmax of a row at `id`, in f64. */
function logSoftmaxAt(row: Float32Array, id: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return row[id] - m - Math.log(s);
}

describe('policy (tiny-a, f32)', () => {
  let model: TinyLlavaVideo;
  let policy: Policy;
  let lora: LoraAdapter;
  let x0: Tensor;
  const first = before.length + after.length - 1;
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-a');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    policy = new Policy(ctx, model);
    lora = new LoraAdapter(ctx, model.config.text, {
      r: 4,
      alpha: 8,
      dropout: 0,
      rslora: false,
      targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
      seed: 7,
    });
    x0 = policy.embed([...before, ...after, ...targets.slice(0, -1)]);
  });
  afterAll(() => {
    lora?.destroy();
    policy?.destroy();
    model?.destroy();
  });

  it('gives the inference model’s log-probs; a fresh adapter (B = 0) changes nothing', async () => {
    const base = await policy.logprobs(x0, first, targets, null);
    const fresh = await policy.logprobs(x0, first, targets, lora);
    // The inference path: prefill, then greedy-free steps feeding the targets.
    const want: number[] = [];
    let logits = model.prefill(before, null, after);
    for (const [j, id] of targets.entries()) {
      want.push(logSoftmaxAt(await ctx.read(logits), id));
      ctx.release(logits);
      if (j + 1 < targets.length) logits = model.step(id);
    }
    for (let j = 0; j < targets.length; j++) {
      expect(base[j]).toBeCloseTo(want[j], 3);
      expect(fresh[j]).toBe(base[j]);
    }
    expect(gpuErrors).toEqual([]);
  });

  /** Non-zero B, so dA is not zero too. */
  function setB(a: LoraAdapter): void {
    ctx.flush();
    for (const { pair } of a.pairs()) {
      const b = new Float32Array(pair.B.size).map((_, i) => 0.05 * Math.sin(i * 1.7 + pair.B.size));
      ctx.device.queue.writeBuffer(pair.B.buffer, 0, b);
    }
  }

  it('adapter gradients match central differences of the forward', async () => {
    setB(lora);
    await gradientCheck(lora);
  });

  it('with LoRA dropout on a training pass: its masks, the same on every recomputation, and its gradients', async () => {
    const dropped = new LoraAdapter(ctx, model.config.text, { ...lora.config, dropout: 0.3 });
    try {
      setB(dropped);
      setB(lora); // the same factors as \`dropped\`'s (the same seed)
      const pass: DropoutPass = { step: 3, sequence: 1, iteration: 0 };
      const plain = await policy.logprobs(x0, first, targets, dropped);
      expect(plain).toEqual(await policy.logprobs(x0, first, targets, lora)); // no pass: no dropout
      const masked = await policy.logprobs(x0, first, targets, dropped, pass);
      expect(await policy.logprobs(x0, first, targets, dropped, pass)).toEqual(masked);
      const other = await policy.logprobs(x0, first, targets, dropped, { ...pass, step: 4 });
      expect(Math.max(...masked.map((v, j) => Math.abs(v - plain[j])))).toBeGreaterThan(1e-4);
      expect(Math.max(...masked.map((v, j) => Math.abs(v - other[j])))).toBeGreaterThan(1e-4);
      // The backward's forward is the pass's: it returns the same log-probs.
      dropped.zeroGrads();
      expect(
        await policy.backward(
          x0,
          first,
          targets,
          dropped,
          () => new Float32Array(targets.length),
          undefined,
          pass,
        ),
      ).toEqual(masked);
      await gradientCheck(dropped, pass, 1);
    } finally {
      dropped.destroy();
    }
  });

  /**
   * Backward's dA and dB against central differences of the forward (the same pass, so the same masks),
   * at the largest entry of each checked factor's gradient and, with `entries` 2, one other.
   */
  async function gradientCheck(a: LoraAdapter, pass?: DropoutPass, entries = 2): Promise<void> {
    const g = Float32Array.from(targets, (_, j) => 0.5 - 0.3 * j);
    const loss = async () => {
      const lp = await policy.logprobs(x0, first, targets, a, pass);
      return lp.reduce((s, v, j) => s + g[j] * v, 0);
    };
    a.zeroGrads();
    await policy.backward(x0, first, targets, a, () => g, undefined, pass);
    const h = 1e-2;
    let checked = 0;
    for (const { layer, target, pair } of a.pairs()) {
      if (
        !(
          (layer === 0 && ['q', 'k', 'up'].includes(target)) ||
          (layer === 1 && ['v', 'o', 'gate', 'down'].includes(target))
        )
      )
        continue;
      for (const [param, grad] of [
        [pair.A, pair.dA],
        [pair.B, pair.dB],
      ] as const) {
        const analytic = await ctx.read(grad);
        // The entry with the largest gradient, and one other.
        const top = largestEntry(analytic);
        for (const i of [top, (top * 7 + 3) % analytic.length].slice(0, entries)) {
          const numeric = await centralDifference(ctx, param, i, h, loss);
          expect(
            Math.abs(numeric - analytic[i]),
            `layer ${layer} ${target} [${i}]: ${numeric} vs ${analytic[i]}`,
          ).toBeLessThan(2e-4 + 0.03 * Math.abs(analytic[i]));
          checked++;
        }
        expect(Math.abs(analytic[top])).toBeGreaterThan(1e-4); // the check is not vacuous
      }
    }
    expect(checked).toBe(14 * entries);
  }

  it('merged into the inference weights, the adapter gives the policy’s log-probs; unmerged, the base', async () => {
    const adapted = await policy.logprobs(x0, first, targets, lora);
    policy.mergeInto(model, lora);
    let logits = model.prefill(before, null, after);
    const row = await ctx.read(logits);
    ctx.release(logits);
    expect(logSoftmaxAt(row, targets[0])).toBeCloseTo(adapted[0], 3);
    policy.mergeInto(model, null);
    logits = model.prefill(before, null, after);
    const baseRow = await ctx.read(logits);
    ctx.release(logits);
    const base = await policy.logprobs(x0, first, targets, null);
    expect(logSoftmaxAt(baseRow, targets[0])).toBeCloseTo(base[0], 3);
    expect(Math.abs(adapted[0] - base[0])).toBeGreaterThan(1e-3);
  });
});
