/**
 * Stage 2 of the demo model (issue 12): GRPO with a LoRA adapter on the supervised model's language
 * model, as the paper trains the real one: the vision tower and the connector stay as stage 1 left
 * them (each clip's visual tokens computed once), the reference policy is the same weights with the
 * adapter off, and the rewards, advantages and loss are src/rl-lite/grpo.ts's (the paper's by default).
 */
import type { GpuContext } from '../../src/gpu/context';
import { ADAMW_DEFAULTS } from '../../src/gpu/kernels/adamw';
import { axpy } from '../../src/gpu/kernels/add';
import { matmulBackwardInput } from '../../src/gpu/kernels/matmul/matmul-backward';
import type { TinyLlavaVideo } from '../../src/model/tinyllava';
import type { TextTokenizer } from '../../src/model/tokenizer';
import { PREFIX } from '../../src/model/weight-manifest';
import { GRPO_PAPER, type GrpoItem, type StepMetrics, Trainer } from '../../src/rl-lite/grpo';
import type { ScaleRewards } from '../../src/rl-lite/grpo-loss';
import { LORA_DEFAULTS, LORA_TARGETS, LoraAdapter } from '../../src/rl-lite/lora';
import { AdamW } from '../../src/rl-lite/optimizer';
import type { Param } from '../../src/rl-lite/params';
import { Policy } from '../../src/rl-lite/policy';
import { seededRandom, shuffled } from '../../src/rl-lite/tasks/moving-squares';

export interface GrpoStageOptions {
  steps: number;
  /** Prompts a step (each with `generations` completions). */
  prompts: number;
  generations: number;
  lr: number;
  rank: number;
  alpha: number;
  temperature: number;
  maxNew: number;
  beta: number;
  /** TRL's scale_rewards: the advantages' divisor (the group's reward std, the batch's, or none). */
  scaleRewards: ScaleRewards;
  seed: number;
  /** Called every `evalEvery` steps (and after the last) with the adapter merged into the model. */
  evalEvery: number;
  onEval: (step: number) => Promise<void>;
}

/**
 * A GRPO prompt with its visual tokens kept on the CPU: a step uploads its own. (A thousand clips'
 * tokens held on the GPU crashed lavapipe.)
 */
export interface HostGrpoItem extends Omit<GrpoItem, 'visual'> {
  visual: Float32Array;
  shape: number[];
}

export interface GrpoStage {
  lora: LoraAdapter;
  policy: Policy;
  log: StepMetrics[];
}

/** GRPO on the items (visual tokens cached), the adapter merged into `model` at the end. */
export async function grpoStage(
  ctx: GpuContext,
  model: TinyLlavaVideo,
  tok: TextTokenizer,
  eos: number,
  items: HostGrpoItem[],
  o: GrpoStageOptions,
): Promise<GrpoStage> {
  const policy = new Policy(ctx, model); // the supervised weights, frozen: the reference with the adapter off
  const lora = new LoraAdapter(ctx, model.config.text, {
    ...LORA_DEFAULTS,
    r: o.rank,
    alpha: o.alpha,
    seed: o.seed,
  });
  const opt = new AdamW(ctx, lora, {
    ...ADAMW_DEFAULTS,
    lr: o.lr,
    weightDecay: 0,
    maxGradNorm: 1,
    schedule: 'constant',
    warmupRatio: 0,
    totalSteps: o.steps,
  });
  const trainer = new Trainer(ctx, model, tok, [eos], policy, lora, opt, {
    ...GRPO_PAPER,
    num_generations: o.generations,
    temperature: o.temperature,
    max_completion_length: o.maxNew,
    beta: o.beta,
    scale_rewards: o.scaleRewards,
    seed: o.seed,
    pack_sequences: o.prompts * o.generations, // a step's completions in one pass: the same step, faster here
  });
  const rand = seededRandom(o.seed + 7);
  const log: StepMetrics[] = [];
  let order: number[] = [];
  for (let s = 1; s <= o.steps; s++) {
    if (order.length < o.prompts) order = [...order, ...shuffled(rand, items.keys())];
    const prompts = order.splice(0, o.prompts).map((i) => ({
      ...items[i],
      visual: ctx.upload(items[i].visual, items[i].shape, 'f32'),
    }));
    const r = await trainer.grpoStep(prompts);
    ctx.release(...prompts.map((p) => p.visual));
    log.push({ ...r, completions: [] });
    const ms = r.ms;
    if (s % 5 === 0 || s === 1)
      console.log(
        `grpo ${s}: reward ${r.rewardMean.toFixed(3)}, accuracy ${r.accuracy.toFixed(2)}, format ${r.formatRate.toFixed(2)}, ` +
          `kl ${r.kl.toFixed(4)}, |g| ${r.gradNorm.toFixed(2)}, ms rollout ${ms.rollout.toFixed(0)} reward ${ms.reward.toFixed(0)} ` +
          `ref ${ms.reference.toFixed(0)} fwd+bwd ${ms.backward.toFixed(0)} opt ${ms.optimizer.toFixed(0)}`,
      );
    if ((o.evalEvery > 0 && s % o.evalEvery === 0) || s === o.steps) {
      policy.mergeInto(model, lora);
      await o.onEval(s);
    }
  }
  opt.destroy();
  return { lora, policy, log };
}

/**
 * Adds the adapter's s·B·A to the full-model trainer's projections (the supervised weights), so that
 * the saved checkpoint is the merged model. The stage-1 parameters are not trained afterwards.
 */
export function mergeAdapter(ctx: GpuContext, lora: LoraAdapter, params: readonly Param[]): void {
  for (const { layer, target, pair } of lora.pairs()) {
    const name = `${PREFIX.text}model.layers.${layer}.${LORA_TARGETS[target]}.weight`;
    const param = params.find((q) => q.name === name);
    if (!param) throw new Error(`merge: no trained tensor ${name}`);
    ctx.tidy(() => axpy(ctx, param.p, matmulBackwardInput(ctx, pair.B, pair.A), lora.scale));
  }
}
