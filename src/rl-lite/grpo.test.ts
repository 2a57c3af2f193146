/**
 * GRPO learns a trivially learnable item on the tiny-a fixture: one-token completions drawn from the
 * top 4 candidates, the reward given to one of the less likely ones (its text is the solution). A
 * few steps must raise that token's probability under the adapted policy, with the KL to the
 * reference finite and the metrics consistent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctx } from '../gpu/testing/kernel-suite';
import { loadWeights } from '../model/load';
import { openFixture } from '../model/testing/goldens';
import { qwenTokenizer } from '../model/testing/qwen-tokenizer';
import { TinyLlavaVideo } from '../model/tinyllava';
import type { TextTokenizer } from '../model/tokenizer';
import { GRPO_PAPER, Trainer } from './grpo';
import { LoraAdapter } from './lora';
import { AdamW } from './optimizer';
import { Policy } from './policy';
import { pyStrip } from './rewards';

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198, 151644, 77091, 198];

describe(`GRPO on a learnable item (tiny-a, ${ctx.actDtype})`, () => {
  let model: TinyLlavaVideo;
  let tok: TextTokenizer;
  let trainer: Trainer;
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-a');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    tok = qwenTokenizer();
    const policy = new Policy(ctx, model);
    const lora = new LoraAdapter(ctx, model.config.text, {
      r: 4,
      alpha: 8,
      dropout: 0,
      rslora: false,
      targets: ['q', 'v', 'o', 'down'],
      seed: 1,
    });
    const opt = new AdamW(ctx, lora, {
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      maxGradNorm: 1,
      schedule: 'constant',
      warmupRatio: 0,
      totalSteps: 3,
    });
    trainer = new Trainer(ctx, model, tok, [151643], policy, lora, opt, {
      ...GRPO_PAPER,
      num_generations: 8,
      max_completion_length: 1,
      top_k: 4,
      advantage_noise: 0,
      seed: 5,
    });
  });
  afterAll(() => {
    trainer?.optimizer.destroy();
    trainer?.lora.destroy();
    trainer?.policy.destroy();
    model?.destroy();
  });

  it('raises the probability of the rewarded answer; KL stays finite', async () => {
    // The 4 candidates of the first token; reward the least likely one whose text is unambiguous.
    const logits = await ctx.read(model.prefill(before, null, after));
    const top = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 4);
    const text = (id: number) => pyStrip(tok.decode([id]));
    const ok = (id: number) => {
      const t = text(id);
      return t.length > 0 && top.every((o) => o === id || (text(o) !== t && !text(o).startsWith(t)));
    };
    const target = [...top].reverse().find(ok);
    expect(target, `no unambiguous candidate among ${top.map(text)}`).toBeDefined();

    // The probability of answering right as rollouts sample it: the adapted policy merged into the
    // inference weights, the softmax mass of every token (among the 200 likeliest) whose text is the answer.
    const truth = text(target!);
    const prob = async () => {
      trainer.policy.mergeInto(model, trainer.lora);
      const t = model.prefill(before, null, after);
      const row = await ctx.read(t);
      ctx.release(t);
      const max = row.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY);
      let z = 0;
      for (const v of row) z += Math.exp(v - max);
      const likeliest = [...row.keys()].sort((a, b) => row[b] - row[a]).slice(0, 200);
      return likeliest
        .filter((id) => text(id) === truth)
        .reduce((s, id) => s + Math.exp(row[id] - max) / z, 0);
    };
    const item = { before, after, visual: null, solution: `<answer>${truth}</answer>` };
    const p0 = await prob();
    const rewarded: number[] = [];
    for (let s = 0; s < 3; s++) {
      const m = await trainer.grpoStep([item]);
      expect(m.completions).toHaveLength(8);
      expect(Number.isFinite(m.kl) && m.kl >= 0).toBe(true);
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(m.step).toBe(s + 1);
      rewarded.push(m.completions.filter((c) => c.accuracy === 1).length);
      for (const c of m.completions) expect(c.reward).toBe(c.accuracy === 1 ? 1 : -2);
    }
    const p1 = await prob();
    expect(rewarded.some((n) => n > 0 && n < 8)).toBe(true); // some step had a signal
    expect(
      p1,
      `p(rewarded) ${p0.toFixed(3)} → ${p1.toFixed(3)}; rewarded per step ${rewarded}`,
    ).toBeGreaterThan(p0 * 1.5);
  });

  it('completions stacked in one pass (pack_sequences, the reference and old log-probs too) take the step one at a time takes', async () => {
    const fresh = (pack: number) => {
      const lora = new LoraAdapter(ctx, model.config.text, {
        r: 2,
        alpha: 4,
        dropout: 0,
        rslora: false,
        targets: ['q', 'down'],
        seed: 3,
      });
      // B starts at 0: one step's update of A is 0, so B's carries the comparison.
      const opt = new AdamW(ctx, lora, { ...trainer.optimizer.config, totalSteps: 1 });
      return new Trainer(ctx, model, tok, [151643], trainer.policy, lora, opt, {
        ...trainer.config,
        num_generations: 4,
        max_completion_length: 2,
        top_k: 8,
        advantage_noise: 0.5, // a signal whatever the rewards: the same draws for both
        num_iterations: 2, // the rollout-time log-probs (packed too) count in the second pass
        pack_sequences: pack,
      });
    };
    const item = { before, after, visual: null, solution: '<answer>A</answer>' };
    const weights = async (t: Trainer) => (await t.lora.read()).flatMap((f) => [f.A, f.B]);
    const one = fresh(1);
    const packed = fresh(4);
    const m1 = await one.grpoStep([item]);
    const m4 = await packed.grpoStep([item]);
    expect(m4.completions.map((c) => c.ids)).toEqual(m1.completions.map((c) => c.ids));
    expect(m4.loss).toBeCloseTo(m1.loss, 5);
    expect(m4.kl).toBeCloseTo(m1.kl, 6); // the reference's log-probs, packed too
    const [w1, w4] = [await weights(one), await weights(packed)];
    let moved = 0;
    for (const [i, w] of w1.entries())
      for (const [j, v] of w.entries()) {
        expect(w4[i][j]).toBeCloseTo(v, 5);
        if (i % 2 === 1) moved = Math.max(moved, Math.abs(v));
      }
    expect(moved).toBeGreaterThan(1e-4); // B moved: the step was not empty
    for (const t of [one, packed]) {
      t.optimizer.destroy();
      t.lora.destroy();
    }
  });
});
