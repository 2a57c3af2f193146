/**
 * GRPO's loss as TRL's GRPOTrainer computes it (with the paper's defaults), on the host: group
 * advantages, the per-token loss and its gradient with respect to each token's log-prob, and the
 * token weights of each loss_type. Everything here is a few numbers per token; the GPU only sees the
 * resulting d(loss)/d(logp) (policy.ts backpropagates it).
 *
 * Per token t of completion i, with ratio ρ = exp(lp − lp_old) (1 with one iteration per batch):
 *   ℓ = −min(ρ·A_i, clip(ρ, 1 − ε, 1 + ε_high)·A_i) + β·KL,  KL = exp(ref − lp) − (ref − lp) − 1 (k3)
 *   dℓ/dlp = −ρ·A_i·[the unclipped term is the min] + β·(1 − exp(ref − lp))
 */

export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
export type ScaleRewards = 'group' | 'batch' | 'none';

export interface GrpoLossConfig {
  beta: number;
  loss_type: LossType;
  scale_rewards: ScaleRewards;
  epsilon: number;
  /** Upper clip (DAPO); defaults to epsilon. */
  epsilon_high?: number;
  /** Gaussian noise added to each advantage (the paper: 0.02; TRL: none). */
  advantage_noise: number;
  max_completion_length: number;
}

/** Unbiased standard deviation (torch.std's default). */
function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Standard normal draws from a uniform source (Box–Muller). */
export function gaussian(uniform: () => number): number {
  const u = Math.max(uniform(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
}

/**
 * Advantages of rewards laid out group after group (G completions per prompt):
 * (r − mean of its group) / (std + 1e-4), std of the group ('group'), of the whole batch ('batch'),
 * or 1 ('none'); plus noise·N(0, 1) when noise > 0.
 */
export function advantages(
  rewards: readonly number[],
  G: number,
  scale: ScaleRewards,
  noise = 0,
  uniform: () => number = Math.random,
): number[] {
  if (G < 1 || rewards.length % G !== 0)
    throw new Error(`advantages: ${rewards.length} rewards in groups of ${G}`);
  const out: number[] = [];
  const batchStd = std(rewards);
  for (let g = 0; g < rewards.length; g += G) {
    const group = rewards.slice(g, g + G);
    const mean = group.reduce((s, x) => s + x, 0) / G;
    const denom = scale === 'group' ? std(group) + 1e-4 : scale === 'batch' ? batchStd + 1e-4 : 1;
    for (const r of group) out.push((r - mean) / denom + (noise > 0 ? noise * gaussian(uniform) : 0));
  }
  return out;
}

/** Each token's weight in the batch loss, for completions of these lengths. */
export function tokenWeights(
  lengths: readonly number[],
  c: Pick<GrpoLossConfig, 'loss_type' | 'max_completion_length'>,
): number[] {
  const N = lengths.length;
  const total = lengths.reduce((s, n) => s + n, 0);
  return lengths.map((n) => {
    if (n === 0) return 0;
    if (c.loss_type === 'grpo') return 1 / (n * N); // per-sequence mean, then the batch mean
    if (c.loss_type === 'dr_grpo') return 1 / (N * c.max_completion_length);
    return 1 / total; // bnpo, dapo: every token of the batch alike
  });
}

export interface TokenLoss {
  /** Σ_t weight·ℓ_t over the completion (its share of the batch loss). */
  loss: number;
  /** weight · dℓ/dlp per token: what the backward pass starts from. */
  grad: Float32Array;
  /** Mean k3 KL over the completion's tokens (0 when there is no reference). */
  kl: number;
  /** Tokens whose ratio was clipped. */
  clipped: number;
}

/**
 * One completion's loss and its gradient per token. `lp`: the policy's log-probs now; `old`: at
 * rollout time (null: the same as lp, one iteration per batch); `ref`: the reference policy's (null
 * when beta is 0).
 */
export function tokenLoss(
  lp: Float32Array,
  old: Float32Array | null,
  ref: Float32Array | null,
  advantage: number,
  weight: number,
  c: Pick<GrpoLossConfig, 'beta' | 'epsilon' | 'epsilon_high'>,
): TokenLoss {
  const n = lp.length;
  const grad = new Float32Array(n);
  const lo = 1 - c.epsilon;
  const hi = 1 + (c.epsilon_high ?? c.epsilon);
  let loss = 0;
  let klSum = 0;
  let clipped = 0;
  for (let t = 0; t < n; t++) {
    const ratio = old ? Math.exp(lp[t] - old[t]) : 1;
    const clippedRatio = Math.min(Math.max(ratio, lo), hi);
    const unclippedTerm = ratio * advantage;
    const clippedTerm = clippedRatio * advantage;
    // −min(·): the gradient flows through the unclipped term when it is the smaller (or they tie).
    const useUnclipped = unclippedTerm <= clippedTerm;
    if (!useUnclipped) clipped++;
    let l = -Math.min(unclippedTerm, clippedTerm);
    let g = useUnclipped ? -unclippedTerm : 0;
    if (ref && c.beta !== 0) {
      const d = ref[t] - lp[t];
      const kl = Math.exp(d) - d - 1;
      klSum += kl;
      l += c.beta * kl;
      g += c.beta * (1 - Math.exp(d));
    }
    loss += weight * l;
    grad[t] = weight * g;
  }
  return { loss, grad, kl: n ? klSum / n : 0, clipped };
}

/** Supervised (cold-start SFT) cross-entropy: −weight·Σ lp, gradient −weight per token. */
export function sftLoss(lp: Float32Array, weight: number): { loss: number; grad: Float32Array } {
  let loss = 0;
  for (const v of lp) loss -= weight * v;
  return { loss, grad: new Float32Array(lp.length).fill(-weight) };
}
