/**
 * Sampling options, the host PRNG and the CPU reference sampler (the GPU sampler in
 * src/gpu/kernels/sample/ picks the same token for the same logits and uniform number).
 *
 * Semantics follow Hugging Face generate: repetition penalty (positive logits divided by p, negative
 * ones multiplied; every id in the history once), then temperature, top-k, top-p. temperature ≤ 0
 * is greedy (argmax after the penalty). What we fix that HF leaves to torch:
 * - Order: candidates rank by (logit desc, id asc); ties go to the lower id, greedy included.
 * - Top-k keeps every logit ≥ the k-th largest, as HF does: ids tied with the k-th value all stay
 *   (after the first k, in id order), so k = 1 draws among the ids tied at the maximum.
 * - Top-p keeps ranked candidates while the mass before them is < topP (HF's rule), at least one.
 * - The draw is by inverse CDF with a host uniform u ∈ [0, 1): the first candidate, in rank order,
 *   whose cumulative weight exceeds u·total. With top-k off and topP = 1 the candidates are the whole
 *   vocabulary in id order (same distribution, no sort needed).
 * - Top-k is capped at MAX_TOP_K; with top-k off and topP < 1 the nucleus is taken within the top
 *   MAX_TOP_K candidates and the ids tied with the last of them (a deviation from HF only where
 *   the nucleus would hold more than that).
 * Logits below −FLT_MAX (−∞) count as −FLT_MAX, so fully masked rows still produce a token.
 */

import { type GpuSampling, SAMPLE_K_MAX, sampleRowCpu } from '../gpu/kernels/sample/sample';

export { penalize, sampleRowCpu } from '../gpu/kernels/sample/sample';

export interface SamplingOptions {
  /** 0 (or less) = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  /** Seed of the host PRNG that supplies one uniform per sampled token. */
  seed: number;
  maxNewTokens: number;
}

/** Largest top-k the GPU sampler selects (also the nucleus bound with top-k off). */
export const MAX_TOP_K = SAMPLE_K_MAX;

/** HF's generation defaults for this checkpoint (its generation_config sets no sampling keys). */
export const R1_EVAL_SAMPLING: SamplingOptions = {
  temperature: 1,
  topK: 50,
  topP: 1,
  repetitionPenalty: 1,
  seed: 0,
  maxNewTokens: 1024,
};
/** The upstream demo script's temperature. */
export const R1_DEMO_SAMPLING: SamplingOptions = { ...R1_EVAL_SAMPLING, temperature: 0.1 };
/** GRPO rollouts: HF defaults, 512 new tokens. */
export const GRPO_ROLLOUT_SAMPLING: SamplingOptions = { ...R1_EVAL_SAMPLING, maxNewTokens: 512 };
export const GREEDY: SamplingOptions = { ...R1_EVAL_SAMPLING, temperature: 0 };

/** The options reduced to what a sampler does (greedy / top-k draw / full-vocabulary draw). */
export type ResolvedSampling = GpuSampling;

export function validateSampling(o: SamplingOptions): void {
  const bad = (what: string) => {
    throw new RangeError(`sampling: ${what}`);
  };
  if (!Number.isFinite(o.temperature)) bad(`temperature ${o.temperature}`);
  if (!Number.isInteger(o.topK) || o.topK < 0) bad(`topK ${o.topK} (an integer ≥ 0)`);
  if (!(o.topP > 0 && o.topP <= 1)) bad(`topP ${o.topP} (in (0, 1])`);
  if (!(o.repetitionPenalty > 0) || !Number.isFinite(o.repetitionPenalty))
    bad(`repetitionPenalty ${o.repetitionPenalty}`);
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0) bad(`maxNewTokens ${o.maxNewTokens}`);
}

export function resolveSampling(o: SamplingOptions): ResolvedSampling {
  validateSampling(o);
  const penalty = o.repetitionPenalty;
  if (o.temperature <= 0) return { mode: 'greedy', k: 1, topP: 1, invTemperature: 0, penalty };
  const invTemperature = 1 / o.temperature;
  if (o.topK === 0 && o.topP >= 1) return { mode: 'full', k: 0, topP: 1, invTemperature, penalty };
  const k = o.topK === 0 ? MAX_TOP_K : Math.min(o.topK, MAX_TOP_K);
  return { mode: 'topk', k, topP: o.topP, invTemperature, penalty };
}

/**
 * Host PRNG (mulberry32) giving uniforms with 24 random bits, so each is exactly an f32 in [0, 1)
 * and the GPU sees the same number as the CPU.
 */
export class SamplerRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 8) / 16777216;
  }
  /** n uniforms (one per row of a batch). */
  uniforms(n: number): number[] {
    return Array.from({ length: n }, () => this.next());
  }
  /** The state, to save and resume a reproducible stream. */
  get state(): number {
    return this.s;
  }
  static fromState(state: number): SamplerRng {
    return new SamplerRng(state);
  }
}

/**
 * CPU reference: the id sampled from one row of logits (length V) given the history `prevIds`
 * (ids ≥ V ignored) and a uniform u ∈ [0, 1) from SamplerRng.
 */
export function sampleCpu(
  logits: ArrayLike<number>,
  options: SamplingOptions,
  prevIds: ArrayLike<number> | null,
  u: number,
): number {
  return sampleRowCpu(logits, resolveSampling(options), prevIds, u);
}

/** sampleCpu over B rows of a flat [B, V] array; prevIds is [B, L] flat (or null); one uniform per row. */
export function sampleRowsCpu(
  logits: ArrayLike<number>,
  B: number,
  options: SamplingOptions,
  prevIds: ArrayLike<number> | null,
  uniforms: readonly number[],
): number[] {
  const V = logits.length / B;
  const L = prevIds ? prevIds.length / B : 0;
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.prototype.slice.call(logits, b * V, (b + 1) * V) as number[];
    const prev = prevIds ? (Array.prototype.slice.call(prevIds, b * L, (b + 1) * L) as number[]) : null;
    out.push(sampleCpu(row, options, prev, uniforms[b] ?? 0));
  }
  return out;
}
