/**
 * A checkpoint resumes bit-exactly (tiny-a, GRPO as in grpo.test.ts, smaller): two steps run
 * uninterrupted give the same adapter, bit for bit, as one step, a checkpoint, a trainer rebuilt
 * from its files and one more step. Resuming from the adapter alone (fresh optimizer moments and
 * generators) does not, so the test sees what the optimizer and trainer state carry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctx } from '../gpu/testing/kernel-suite';
import { loadWeights } from '../model/load';
import { openFixture } from '../model/testing/goldens';
import { qwenTokenizer } from '../model/testing/qwen-tokenizer';
import { TinyLlavaVideo } from '../model/tinyllava';
import type { TextTokenizer } from '../model/tokenizer';
import {
  encodeCheckpoint,
  OPTIMIZER_STATE,
  readCheckpoint,
  resumeTrainer,
  TRAINER_STATE,
  type TrainerStateFile,
} from './checkpoint';
import { GRPO_PAPER, Trainer } from './grpo';
import { LoraAdapter } from './lora';
import { AdamW } from './optimizer';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadPeftAdapter } from './peft';
import { Policy } from './policy';

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198, 151644, 77091, 198];
const item = { before, after, visual: null, solution: '<answer>A</answer>' };
const OPT = {
  lr: 0.01,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  maxGradNorm: 1,
  schedule: 'cosine' as const,
  warmupRatio: 0,
  totalSteps: 4,
};
const GRPO = {
  ...GRPO_PAPER,
  num_generations: 4,
  max_completion_length: 2,
  top_k: 8,
  advantage_noise: 0.02, // the generator whose state the checkpoint carries
  seed: 11,
};

/** Every factor's bits, for exact comparison. */
async function bits(lora: LoraAdapter): Promise<Uint32Array[]> {
  return (await lora.read()).flatMap((p) => [new Uint32Array(p.A.buffer), new Uint32Array(p.B.buffer)]);
}

describe(`checkpoints resume bit-exactly (tiny-a, ${ctx.actDtype})`, () => {
  let model: TinyLlavaVideo;
  let tok: TextTokenizer;
  let policy: Policy;
  const made: Trainer[] = [];
  const deps = () => ({ ctx, model, tokenizer: tok, eosIds: [151643], policy });
  const fresh = (lora?: LoraAdapter) => {
    lora ??= new LoraAdapter(ctx, model.config.text, {
      r: 4,
      alpha: 8,
      dropout: 0.1, // the masks are keyed by the step: a resumed run draws the same ones
      rslora: false,
      targets: ['q', 'v', 'o', 'down'],
      seed: 1,
    });
    const t = new Trainer(ctx, model, tok, [151643], policy, lora, new AdamW(ctx, lora, OPT), GRPO);
    made.push(t);
    return t;
  };
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-a');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    tok = qwenTokenizer();
    policy = new Policy(ctx, model);
  });
  afterAll(() => {
    for (const t of made) {
      t.optimizer.destroy();
      t.lora.destroy();
    }
    policy?.destroy();
    model?.destroy();
  });

  it('two steps = one step, checkpoint, resume, one step', async () => {
    const straight = fresh();
    const first = await straight.grpoStep([item]);
    const after1 = await bits(straight.lora);
    const second = await straight.grpoStep([item]);
    const want = await bits(straight.lora);
    expect(want.some((b, i) => b.some((x, j) => x !== after1[i][j]))).toBe(true); // step 2 moved the adapter

    const interrupted = fresh();
    expect((await interrupted.grpoStep([item])).completions).toEqual(first.completions);
    const files = await encodeCheckpoint(interrupted, {
      baseModel: 'fixtures/tiny-a',
      logHistory: [{ step: 1 }],
    });
    expect([...files.keys()].sort()).toEqual(
      [ADAPTER_CONFIG, ADAPTER_WEIGHTS, OPTIMIZER_STATE, TRAINER_STATE].sort(),
    );
    const state = JSON.parse(new TextDecoder().decode(files.get(TRAINER_STATE)));
    expect(state).toMatchObject({ global_step: 1, max_steps: 4, log_history: [{ step: 1 }] });
    expect(state.rl_lite).toMatchObject({ grpo: GRPO, optimizer: OPT, rollout_seed: 12 });

    const resumed = await resumeTrainer(deps(), files);
    made.push(resumed);
    expect(resumed.optimizer.step).toBe(1);
    const next = await resumed.grpoStep([item]);
    expect(next.step).toBe(2);
    expect(next.completions).toEqual(second.completions);
    expect(next.loss).toBe(second.loss);
    const got = await bits(resumed.lora);
    for (const [i, b] of got.entries()) expect(b, `factor ${i}`).toEqual(want[i]);

    // The adapter alone (fresh moments, the generators from their seeds) takes another step.
    const { adapter } = await loadPeftAdapter(ctx, model.config.text, files);
    const naive = fresh(adapter);
    await naive.grpoStep([item]);
    const other = await bits(naive.lora);
    expect(other.some((b, i) => b.some((x, j) => x !== want[i][j]))).toBe(true);
  });

  it('names what is wrong in a damaged checkpoint', async () => {
    const t = fresh();
    await t.sftStep([{ before, after, visual: null, completion: [32, 151643] }]);
    const files = await encodeCheckpoint(t, { baseModel: 'fixtures/tiny-a' });
    const text = model.config.text;
    const edit = (f: (s: TrainerStateFile) => void) => {
      const s = JSON.parse(new TextDecoder().decode(files.get(TRAINER_STATE)));
      f(s);
      return new Map([...files, [TRAINER_STATE, new TextEncoder().encode(JSON.stringify(s))]]);
    };
    expect((await readCheckpoint(text, files)).optimizer.step).toBe(1);
    const without = new Map(files);
    without.delete(OPTIMIZER_STATE);
    await expect(readCheckpoint(text, without, 'run-1')).rejects.toThrow(
      /optimizer\.safetensors: missing from run-1/,
    );
    await expect(
      readCheckpoint(
        text,
        edit((s) => (s.global_step = 3)),
      ),
    ).rejects.toThrow(/optimizer\.safetensors: step 1, but trainer_state\.json's global_step is 3/);
    await expect(
      readCheckpoint(
        text,
        edit((s) => Reflect.deleteProperty(s.rl_lite.grpo, 'beta')),
      ),
    ).rejects.toThrow(/trainer_state\.json: rl_lite\.grpo\.beta is missing/);
    await expect(
      readCheckpoint(
        text,
        edit((s) => (s.rl_lite.lora.r = 8)),
      ),
    ).rejects.toThrow(/rl_lite\.lora \(r 8.*does not match the adapter's files \(r 4/);
    await expect(
      readCheckpoint(
        text,
        edit((s) => (s.rl_lite.lora.dropout = 0)),
      ),
    ).rejects.toThrow(
      /rl_lite\.lora \(r 4, alpha 8, dropout 0,.*does not match the adapter's files \(r 4, alpha 8, dropout 0\.1/,
    );
    await expect(
      readCheckpoint(
        text,
        edit((s) => s.rl_lite.lora.targets.reverse()),
      ),
    ).rejects.toThrow(
      /param_names in the metadata do not list the adapter's factors in the optimizer's order/,
    );
  });
});
