/**
 * One GRPO step as the paper's code runs it, by default: G completions per prompt by batched decode
 * (the adapter merged into the inference weights), the upstream rewards, group-normalised advantages,
 * the k3 KL to the reference (the same base with the adapter off), per-sequence mean loss up to and
 * including the first end token, then the batch mean; AdamW with clipping. Options under TRL's names.
 * Also the cold-start SFT step on the same machinery.
 *
 * LoRA dropout (lora.ts) applies to the passes that train: the loss's forward and backward. The
 * rollouts and the reference and old policies' log-probs run without it (the policy that sampled).
 */
import type { GpuContext } from '../gpu/context';
import { Mulberry32 } from '../gpu/random';
import type { Tensor } from '../gpu/tensor';
import { generate } from '../model/generate';
import { concatRows } from '../model/layers';
import { GRPO_ROLLOUT_SAMPLING, type SamplingOptions } from '../model/sampling';
import type { TinyLlavaVideo } from '../model/tinyllava';
import type { TextTokenizer } from '../model/tokenizer';
import { advantages, type GrpoLossConfig, sftLoss, tokenLoss, tokenWeights } from './grpo-loss';
import type { LoraAdapter } from './lora';
import type { AdamW } from './optimizer';
import { type Policy, stackInputs } from './policy';
import { scoreCompletion } from './rewards';

export interface GrpoConfig extends GrpoLossConfig {
  num_generations: number;
  num_iterations: number;
  temperature: number;
  top_p: number;
  top_k: number;
  /** Weights of [accuracy, format] summed TRL-style; null: the paper's r = acc + (2·acc − 1)·format. */
  reward_weights: [number, number] | null;
  seed: number;
  /**
   * Completions that go through the loss's forward and backward together, stacked (Policy.backwardBatch);
   * ours, not TRL's. More is faster where dispatches dominate (small models, software adapters) and
   * costs that many times a sequence's activations. Default 1.
   */
  pack_sequences?: number;
}

/** The paper's GRPO (MODEL.md): G = 8, β = 0.01, noise 0.02 on the advantages, 512 new tokens. */
export const GRPO_PAPER: GrpoConfig = {
  num_generations: 8,
  num_iterations: 1,
  beta: 0.01,
  loss_type: 'grpo',
  scale_rewards: 'group',
  epsilon: 0.2,
  advantage_noise: 0.02,
  max_completion_length: GRPO_ROLLOUT_SAMPLING.maxNewTokens,
  temperature: GRPO_ROLLOUT_SAMPLING.temperature,
  top_p: GRPO_ROLLOUT_SAMPLING.topP,
  top_k: GRPO_ROLLOUT_SAMPLING.topK,
  reward_weights: null,
  seed: 0,
};

/** A prompt: text ids around the visual tokens (computed once per video and cached by the caller). */
export interface Prompt {
  before: number[];
  after: number[];
  visual: Tensor | null;
}

export interface GrpoItem extends Prompt {
  /** `<answer>X</answer>` */
  solution: string;
}

export interface Completion {
  text: string;
  ids: number[];
  accuracy: number;
  format: number;
  reward: number;
  advantage: number;
}

export interface StepMetrics {
  step: number;
  loss: number;
  rewardMean: number;
  rewardStd: number;
  accuracy: number;
  formatRate: number;
  kl: number;
  clipRatio: number;
  completionLength: number;
  gradNorm: number;
  lr: number;
  /** Wall time of the step's parts; reference: the log-probs of the reference (and old) policy. */
  ms: { rollout: number; reward: number; reference: number; backward: number; optimizer: number };
  completions: Completion[];
}

/** What a resumed trainer needs beyond the adapter and the optimizer to take the same next step. */
export interface TrainerRngState {
  /** Seed of the next rollout's sampling (one per prompt, counting up). */
  rolloutSeed: number;
  /** The advantage-noise generator's state. */
  noiseState: number;
}

const now = () => performance.now();

export class Trainer {
  private readonly noise: Mulberry32;
  private rolloutSeed: number;

  constructor(
    private readonly ctx: GpuContext,
    private readonly model: TinyLlavaVideo,
    private readonly tokenizer: TextTokenizer,
    private readonly eosIds: number[],
    readonly policy: Policy,
    readonly lora: LoraAdapter,
    readonly optimizer: AdamW,
    readonly config: GrpoConfig = GRPO_PAPER,
  ) {
    this.noise = new Mulberry32(config.seed + 1);
    this.rolloutSeed = config.seed;
  }

  get rngState(): TrainerRngState {
    return { rolloutSeed: this.rolloutSeed, noiseState: this.noise.state };
  }

  set rngState(s: TrainerRngState) {
    this.rolloutSeed = s.rolloutSeed;
    this.noise.state = s.noiseState;
  }

  /** One GRPO step on these prompts (each with its own G completions). */
  async grpoStep(items: GrpoItem[]): Promise<StepMetrics> {
    const c = this.config;
    const G = c.num_generations;
    const t0 = now();
    this.policy.mergeInto(this.model, this.lora);
    const sampling: SamplingOptions = {
      temperature: c.temperature,
      topK: c.top_k,
      topP: c.top_p,
      repetitionPenalty: 1,
      seed: 0,
      maxNewTokens: c.max_completion_length,
    };
    const rolled: { item: GrpoItem; ids: number[]; text: string; targets: number[] }[] = [];
    for (const item of items) {
      const r = await generate(this.model, this.tokenizer, {
        ...item,
        sampling: { ...sampling, seed: this.rolloutSeed++ },
        eosIds: this.eosIds,
        batch: G,
      });
      // The loss covers the completion up to and including its end token.
      for (const s of r.sequences)
        rolled.push({
          item,
          ids: s.ids,
          text: s.text,
          targets: s.stoppedBy === 'eos' ? [...s.ids, this.eosIds[0]] : s.ids,
        });
    }
    const t1 = now();
    const scores = rolled.map((r) => scoreCompletion(r.text, r.item.solution));
    const rewards = scores.map((s) =>
      c.reward_weights ? c.reward_weights[0] * s.accuracy + c.reward_weights[1] * s.format : s.total,
    );
    const adv = advantages(rewards, G, c.scale_rewards, c.advantage_noise, () => this.noise.next());
    const weights = tokenWeights(
      rolled.map((r) => r.targets.length),
      c,
    );
    const t2 = now();

    let loss = 0;
    let klSum = 0;
    let clipped = 0;
    let tokens = 0;
    let gradNorm = 0;
    let lr = 0;
    let optimizerMs = 0;
    const inputs = rolled.map((r) => (r.targets.length ? this.inputs(r.item, r.targets) : null));
    const refs: (Float32Array | null)[] = inputs.map(() => null);
    const olds: (Float32Array | null)[] = inputs.map(() => null);
    const live = [...inputs.keys()].filter((i) => inputs[i]);
    const pack = Math.max(1, c.pack_sequences ?? 1);
    const packs = Array.from({ length: Math.ceil(live.length / pack) }, (_, k) =>
      live.slice(k * pack, (k + 1) * pack),
    );
    const stackOf = (group: number[]) =>
      stackInputs(
        this.ctx,
        group.map((i) => ({ ...inputs[i]!, targets: rolled[i].targets })),
      );
    // Reference and rollout-time log-probs, a pack of completions a pass.
    for (const group of c.beta !== 0 || c.num_iterations > 1 ? packs : []) {
      const stack = stackOf(group);
      const fill = async (into: (Float32Array | null)[], lora: LoraAdapter | null) => {
        const lps = await this.policy.logprobsBatch(stack.x0, stack.B, stack.segments, lora);
        for (const [j, i] of group.entries()) into[i] = lps[j];
      };
      if (c.beta !== 0) await fill(refs, null);
      if (c.num_iterations > 1) await fill(olds, this.lora);
      if (stack.B > 1) this.ctx.release(stack.x0);
    }
    const referenceMs = now() - t2;
    for (let it = 0; it < c.num_iterations; it++) {
      loss = klSum = clipped = tokens = 0;
      const step = this.optimizer.step;
      for (const group of packs) {
        // The pack's dropout masks are keyed by its first sequence (one sequence a pack: as before).
        const pass = { step, sequence: group[0], iteration: it };
        const grad = (lps: Float32Array[]) =>
          lps.map((lp, j) => {
            const i = group[j];
            const l = tokenLoss(lp, olds[i], refs[i], adv[i], weights[i], c);
            loss += l.loss;
            klSum += l.kl * lp.length;
            clipped += l.clipped;
            tokens += lp.length;
            return l.grad;
          });
        const stack = stackOf(group);
        await this.policy.backwardBatch(stack.x0, stack.B, stack.segments, this.lora, grad, undefined, pass);
        if (stack.B > 1) this.ctx.release(stack.x0);
      }
      await this.ctx.sync(); // the backward's queued GPU work counts as the backward's time
      const o0 = now();
      ({ gradNorm, lr } = await this.optimizer.update());
      optimizerMs += now() - o0;
    }
    for (const x of inputs) if (x) this.ctx.release(x.x0);
    const t3 = now();
    const mean = rewards.reduce((s, r) => s + r, 0) / rewards.length;
    const sd = Math.sqrt(rewards.reduce((s, r) => s + (r - mean) ** 2, 0) / Math.max(1, rewards.length - 1));
    return {
      step: this.optimizer.step,
      loss,
      rewardMean: mean,
      rewardStd: sd,
      accuracy: scores.reduce((s, x) => s + x.accuracy, 0) / scores.length,
      formatRate: scores.filter((x) => x.format > 0).length / scores.length,
      kl: tokens ? klSum / tokens : 0,
      clipRatio: tokens ? clipped / tokens : 0,
      completionLength: rolled.reduce((s, r) => s + r.ids.length, 0) / rolled.length,
      gradNorm,
      lr,
      ms: {
        rollout: t1 - t0,
        reward: t2 - t1,
        reference: referenceMs,
        backward: t3 - t2 - referenceMs - optimizerMs,
        optimizer: optimizerMs,
      },
      completions: rolled.map((r, i) => ({
        text: r.text,
        ids: r.ids,
        accuracy: scores[i].accuracy,
        format: scores[i].format,
        reward: rewards[i],
        advantage: adv[i],
      })),
    };
  }

  /** One supervised step: cross-entropy on each completion's tokens (per-sequence mean, batch mean). */
  async sftStep(
    items: (Prompt & { completion: number[] })[],
  ): Promise<{ loss: number; gradNorm: number; lr: number }> {
    let loss = 0;
    const step = this.optimizer.step;
    for (const [i, item] of items.entries()) {
      if (!item.completion.length) continue;
      const x = this.inputs(item, item.completion);
      const w = 1 / (item.completion.length * items.length);
      const grad = (lp: Float32Array) => {
        const l = sftLoss(lp, w);
        loss += l.loss;
        return l.grad;
      };
      const pass = { step, sequence: i, iteration: 0 };
      await this.policy.backward(x.x0, x.first, item.completion, this.lora, grad, undefined, pass);
      this.ctx.release(x.x0);
    }
    const { gradNorm, lr } = await this.optimizer.update();
    return { loss, gradNorm, lr };
  }

  /**
   * The training input of a prompt and its completion tokens: [before | visual | after | targets
   * but the last] embedded, and the row whose output predicts targets[0].
   */
  private inputs(p: Prompt, targets: number[]): { x0: Tensor; first: number } {
    const { ctx, policy } = this;
    return ctx.tidy(() => {
      const parts: Tensor[] = [];
      if (p.before.length) parts.push(policy.embed(p.before));
      if (p.visual) parts.push(p.visual);
      const tail = [...p.after, ...targets.slice(0, -1)];
      if (tail.length) parts.push(policy.embed(tail));
      const x0 = concatRows(ctx, parts);
      const promptLength = p.before.length + (p.visual?.shape[0] ?? 0) + p.after.length;
      return { x0, first: promptLength - 1 };
    });
  }
}
