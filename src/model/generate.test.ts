/**
 * generate on the tiny-a fixture: one loop for 1 or B sequences (B drawn from one prefilled prompt),
 * each stopping on its own, and Hugging Face's repetition penalty as the upstream model sees it
 * (generation from inputs_embeds: the penalty counts generated tokens only, never the prompt's ids).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctx } from '../gpu/testing/kernel-suite';
import { generate } from './generate';
import { loadWeights } from './load';
import { GREEDY, R1_EVAL_SAMPLING, type SamplingOptions, sampleCpu } from './sampling';
import { openFixture } from './testing/goldens';
import { qwenTokenizer } from './testing/qwen-tokenizer';
import { TinyLlavaVideo } from './tinyllava';
import type { TextTokenizer } from './tokenizer';

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198, 151644, 77091, 198];

describe(`generate, tiny-a (${ctx.actDtype})`, () => {
  let model: TinyLlavaVideo;
  let tok: TextTokenizer;
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-a');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    tok = qwenTokenizer();
  });
  afterAll(() => model?.destroy());

  const run = (
    sampling: Partial<SamplingOptions>,
    extra: { batch?: number; eosIds?: number[]; prompt?: number[] } = {},
  ) =>
    generate(model, tok, {
      before,
      after: extra.prompt ?? after,
      visual: null,
      sampling: { ...GREEDY, maxNewTokens: 5, ...sampling },
      eosIds: extra.eosIds ?? [],
      batch: extra.batch,
      keepLogits: true,
    });

  it('B greedy sequences from one prompt each give the single-sequence answer', async () => {
    const one = await run({});
    const three = await run({}, { batch: 3 });
    expect(one.sequences).toHaveLength(1);
    expect(one.sequences[0].ids).toHaveLength(5);
    expect(three.sequences).toHaveLength(3);
    for (const s of three.sequences) {
      expect(s.ids).toEqual(one.sequences[0].ids);
      expect(s.text).toBe(one.sequences[0].text);
      expect(s.stoppedBy).toBe('length');
    }
    expect(three.stats).toMatchObject({
      newTokens: 15,
      steps: 5,
      promptTokens: before.length + after.length,
    });
    expect(three.logits[0]).toHaveLength(3 * model.config.text.vocab);
  });

  it('sampled sequences draw apart; each stops at its own end token, the others go on', async () => {
    const sampled = await run({ ...R1_EVAL_SAMPLING, maxNewTokens: 6, seed: 3 }, { batch: 4 });
    const distinct = new Set(sampled.sequences.map((s) => s.ids.join()));
    expect(distinct.size).toBeGreaterThan(1);
    // Stop on the token sequence 0 drew third: it ends there, with the ids before it.
    const stop = sampled.sequences[0].ids[2];
    const again = await run({ ...R1_EVAL_SAMPLING, maxNewTokens: 6, seed: 3 }, { batch: 4, eosIds: [stop] });
    const s0 = again.sequences[0];
    expect(s0.stoppedBy).toBe('eos');
    expect(s0.ids).toEqual(sampled.sequences[0].ids.slice(0, 2));
    for (const [b, s] of again.sequences.entries()) {
      const first = sampled.sequences[b].ids.indexOf(stop);
      const want = first < 0 ? sampled.sequences[b].ids : sampled.sequences[b].ids.slice(0, first);
      expect(s.ids, `sequence ${b}`).toEqual(want);
      expect(s.stoppedBy).toBe(first < 0 ? 'length' : 'eos');
    }
  });

  it('repetition penalty counts generated tokens only, not the prompt', async () => {
    // A prompt that holds its own greedy first token (grown until it does).
    let prompt = [...after];
    let first = -1;
    for (let i = 0; i < 8; i++) {
      first = (await run({ maxNewTokens: 1 }, { prompt })).sequences[0].ids[0];
      if (prompt.includes(first)) break;
      prompt = [first, ...prompt];
    }
    expect(prompt).toContain(first);
    const opts = { ...GREEDY, repetitionPenalty: 100, maxNewTokens: 4 };
    const r = await run(opts, { prompt });
    const ids = r.sequences[0].ids;
    expect(ids[0]).toBe(first); // the prompt's copy of it is not penalised
    // Had the prompt counted, the first token would have been another one (the check can fail).
    expect(sampleCpu(r.logits[0], opts, [...before, ...prompt], 0)).not.toBe(first);
    // Every step: the CPU reference over the generated history gives the same id.
    for (let k = 0; k < ids.length; k++)
      expect(ids[k]).toBe(sampleCpu(r.logits[k], opts, ids.slice(0, k), 0));
  });
});
