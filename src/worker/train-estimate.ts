/**
 * A run's cost before it starts. FLOPs of one step from the model's sizes (2·params a token forward;
 * the trainer's backward recomputes the forward and costs two more, so 8·params a token trained), over
 * a matmul rate measured on this device now, plus the step's kernel launches at a launch cost measured
 * now (what dominates a small model); GPU memory the run adds from the tensors it allocates.
 * Upper bounds: every completion is counted at max_completion_length.
 */
import type { TrainEstimate, TrainSettings } from '../engine-client/protocol';
import type { GpuContext } from '../gpu/context';
import { matmul } from '../gpu/kernels/matmul/matmul';
import type { ModelConfig } from '../model/config';
import { LORA_DEFAULTS, targetShape } from '../rl-lite/lora';

/** Prompt text around the visual tokens (system prompt, question, options), a typical length. */
const PROMPT_TEXT_TOKENS = 80;

/** Sustained matmul FLOP/s of this device, from a few [64, 256] × [256, 256]ᵀ products. */
async function matmulRate(ctx: GpuContext): Promise<number> {
  const M = 64;
  const K = 256;
  const N = 256;
  const x = ctx.upload(new Float32Array(M * K).fill(0.5), [M, K], ctx.actDtype);
  const w = ctx.upload(new Float32Array(N * K).fill(0.25), [N, K], ctx.actDtype);
  try {
    ctx.release(matmul(ctx, x, w, null)); // warm-up: pipeline creation
    await ctx.sync();
    const reps = 4;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) ctx.release(matmul(ctx, x, w, null));
    await ctx.sync();
    const s = Math.max(1e-4, (performance.now() - t0) / 1000);
    return (reps * 2 * M * N * K) / s;
  } finally {
    ctx.release(x, w);
  }
}

/** Wall time of one tiny dispatch in a batch: what a step pays per kernel launch whatever its size. */
async function dispatchMs(ctx: GpuContext): Promise<number> {
  const x = ctx.upload(new Float32Array(16).fill(0.5), [1, 16], ctx.actDtype);
  const w = ctx.upload(new Float32Array(256).fill(0.25), [16, 16], ctx.actDtype);
  try {
    ctx.release(matmul(ctx, x, w, null));
    await ctx.sync();
    const n = 32;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) ctx.release(matmul(ctx, x, w, null));
    await ctx.sync();
    return (performance.now() - t0) / n;
  } finally {
    ctx.release(x, w);
  }
}

/**
 * Kernel launches of a step, roughly: a decode step runs ~8 per layer (the fused projections,
 * attention, norms) plus the head and sampling; a training pass over one sequence ~12 per layer
 * forward, again to recompute, ~30 backward, plus the embedding, head and log-probs.
 */
function dispatches(layers: number, s: TrainSettings, G: number): number {
  const B = s.per_device_train_batch_size;
  const pass = layers * 54 + 10;
  if (s.mode === 'sft') return B * pass;
  const rollout = s.max_completion_length * (layers * 8 + 6) + layers * 8;
  const reference = s.beta !== 0 ? G * (layers * 12 + 5) : 0;
  return B * (rollout + reference + G * pass);
}

/**
 * `baseBytes`: GPU bytes of the loaded decoder layers' weights, which the policy copies in the same
 * form (4-bit when the model is); default: the projections in the activation dtype.
 */
export async function estimateRun(
  ctx: GpuContext,
  cfg: ModelConfig,
  s: TrainSettings,
  baseBytes?: number,
): Promise<TrainEstimate> {
  const t = cfg.text;
  const targets = LORA_DEFAULTS.targets;
  let projParams = 0;
  let loraParams = 0;
  for (const tg of targets) {
    const [out, inn] = targetShape(t, tg);
    projParams += out * inn;
    loraParams += s.r * (out + inn);
  }
  projParams *= t.layers;
  loraParams *= t.layers;
  const params = projParams + t.vocab * t.hidden; // + the lm_head's product
  const Tp = PROMPT_TEXT_TOKENS + cfg.connector.numQueries;
  const Lc = s.max_completion_length;
  const T = Tp + Lc;
  const B = s.per_device_train_batch_size;
  const G = s.mode === 'sft' ? 1 : s.num_generations;
  let flops: number;
  if (s.mode === 'sft') flops = B * T * 8 * params;
  else {
    const rollout = 2 * params * (Tp + G * Lc);
    const reference = s.beta !== 0 ? G * T * 2 * params : 0;
    flops = B * (rollout + reference + G * T * 8 * params);
  }
  const actBytes = ctx.actDtype === 'f16' ? 2 : 4;
  const layerActs = T * (10 * t.hidden + 3 * t.mlp) * 4 + t.heads * T * T * 4;
  const gpuBytes =
    (baseBytes ?? projParams * actBytes) + // the policy's split copy of the base projections
    loraParams * 4 * 6 + // A, B, their gradients, two moments (f32)
    layerActs +
    T * t.vocab * 4 * 2 + // logits and their gradient
    (t.layers + 1) * T * t.hidden * 4; // each layer's input, kept for the backward
  const rate = await matmulRate(ctx);
  const launch = await dispatchMs(ctx);
  return {
    gpuBytes,
    stepMs: (flops / rate) * 1000 + dispatches(t.layers, s, G) * launch,
    flopsPerStep: flops,
    adapterParameters: loraParams,
  };
}
