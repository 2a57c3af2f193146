/**
 * A projection (not a measurement) of one GRPO step on the full-size model from FLOPs and bytes: one
 * prompt, G completions of n new tokens each, LoRA on the decoder's projections. Every size comes from
 * the model's config (the weight manifest's shapes and rl-lite's LoRA target shapes); the phases follow
 * src/rl-lite/grpo.ts: vision + connector once, the prompt prefilled once and forked G ways, n decode
 * steps batched over G, the reference log-probs (G whole-sequence forwards, adapter off), the policy's
 * forward + backward with per-layer recomputation (the base frozen: forward, recompute, dX; LoRA's own
 * dA/dB), AdamW over the adapter. A phase takes max(FLOPs / usable FLOP/s, bytes / usable B/s) plus its
 * kernel launches at a launch cost. Plain arithmetic, no GPU.
 */
import type { ModelConfig } from '../../src/model/config';
import { expectedTensors, PREFIX } from '../../src/model/weight-manifest';
import { type LoraTarget, targetShape } from '../../src/rl-lite/lora';

/** FLOPs of [M, K]·[K, N] (a multiply and an add per term). */
export const matmulFlops = (M: number, N: number, K: number) => 2 * M * N * K;

/** Adapter parameters: r·(in + out) per wrapped projection per layer. */
export function loraParameters(cfg: ModelConfig, rank: number, targets: readonly LoraTarget[]): number {
  let perLayer = 0;
  for (const t of targets) {
    const [out, inn] = targetShape(cfg.text, t);
    perLayer += rank * (out + inn);
  }
  return perLayer * cfg.text.layers;
}

/** Bytes of a [N, K] weight in the engine's 4-bit format: K/2 packed bytes a row, f16 scale and min a group. */
export const q4Bytes = (N: number, K: number, group = 32) =>
  (N * (Math.ceil(K / group) * group)) / 2 + N * Math.ceil(K / group) * 4;

export interface GrpoShape {
  frames: number;
  /** Text tokens of the prompt around the visual tokens. */
  textTokens: number;
  G: number;
  newTokens: number;
  rank: number;
  targets: LoraTarget[];
}

export interface GpuClass {
  name: string;
  /** Memory bandwidth, bytes/s. */
  bandwidth: number;
  /** f16 FLOP/s reachable from WGSL (no tensor-core path in WebGPU: the shader-core rate). */
  flops: number;
  /** Fractions of the peaks our kernels are assumed to reach. */
  bandwidthEfficiency: number;
  computeEfficiency: number;
  /** Seconds a kernel launch costs whatever its size (WebGPU recording + submission). */
  launch: number;
}

export const GPU_CLASSES: GpuClass[] = [
  {
    name: 'laptop iGPU',
    bandwidth: 100e9,
    flops: 4e12,
    bandwidthEfficiency: 0.6,
    computeEfficiency: 0.4,
    launch: 15e-6,
  },
  {
    name: 'RTX 4090-class',
    bandwidth: 1008e9,
    flops: 82e12,
    bandwidthEfficiency: 0.7,
    computeEfficiency: 0.35,
    launch: 8e-6,
  },
  {
    name: 'H100 SXM',
    bandwidth: 3350e9,
    flops: 134e12,
    bandwidthEfficiency: 0.7,
    computeEfficiency: 0.35,
    launch: 8e-6,
  },
];

/**
 * Kernel launches (dispatches) per decoder layer. Decode: bench:model's B = 8 step, 305 dispatches at
 * 36 layers and 23 at 2, is 8.3 a layer plus 6. The trainer's passes: estimates from policy.ts's code.
 */
export const LAUNCHES = { decodePerLayer: 8.3, forwardPerLayer: 12, backwardPerLayer: 30 };

export interface Phase {
  name: string;
  flops: number;
  bytes: number;
  launches: number;
  /** Steps the phase's flops/bytes/launches repeat (decode: n); 1 otherwise. */
  repeat: number;
}

export interface Sizes {
  /** Parameters of the decoder layers' Linear weights, all layers. */
  llmLinear: number;
  /** Its bytes at 4-bit (the engine's format) and at f16. */
  llmLinearQ4: number;
  /** 4-bit bytes of q, k, v, gate and up: the policy's split copies (the model holds them fused). */
  splitCopiesQ4: number;
  table: number;
  tableQ4: number;
  vision: number;
  loraParameters: number;
  promptTokens: number;
}

export function sizes(cfg: ModelConfig, s: GrpoShape): Sizes {
  let llmLinear = 0;
  let llmLinearQ4 = 0;
  let splitCopiesQ4 = 0;
  let table = 0;
  let tableQ4 = 0;
  let vision = 0;
  for (const t of expectedTensors(cfg)) {
    if (!t.used) continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.name.startsWith(PREFIX.text) && t.name.includes('.layers.') && t.name.endsWith('proj.weight')) {
      llmLinear += n;
      llmLinearQ4 += q4Bytes(t.shape[0], t.shape[1]);
      if (/\.(q|k|v|gate|up)_proj\.weight$/.test(t.name)) splitCopiesQ4 += q4Bytes(t.shape[0], t.shape[1]);
    } else if (t.name.endsWith('embed_tokens.weight')) {
      table = n;
      tableQ4 = q4Bytes(t.shape[0], t.shape[1]);
    } else if (t.name.startsWith(PREFIX.vision)) vision += n;
  }
  const visual = s.frames > 0 ? cfg.connector.numQueries : 0;
  return {
    llmLinear,
    llmLinearQ4,
    splitCopiesQ4,
    table,
    tableQ4,
    vision,
    loraParameters: loraParameters(cfg, s.rank, s.targets),
    promptTokens: s.textTokens + visual,
  };
}

/** The phases of one GRPO step. `rolloutWeights`: what a decode step reads (4-bit as the engine does, or f16). */
export function grpoPhases(cfg: ModelConfig, s: GrpoShape, rolloutWeights: 'q4' | 'f16' = 'q4'): Phase[] {
  const t = cfg.text;
  const v = cfg.vision;
  const c = cfg.connector;
  const z = sizes(cfg, s);
  const L = t.layers;
  const HD = t.heads * t.headDim;
  const kvRow = 2 * t.kvHeads * t.headDim; // k and v entries a position a layer
  const P = z.promptTokens;
  const n = s.newTokens;
  const T = P + n; // a completion's whole sequence in the trainer
  const f16 = 2;
  // Causal attention over T positions: QKᵀ and A·V, half the square.
  const causal = (rows: number) => 2 * rows * rows * HD * L;
  const lora = (rows: number) => 2 * rows * z.loraParameters; // x·Aᵀ then u·Bᵀ: r·(in + out) each row

  const phases: Phase[] = [];
  if (s.frames > 0) {
    const Tv = s.frames * v.numPatches;
    const perLayer =
      matmulFlops(Tv, 4 * v.hidden, v.hidden) +
      matmulFlops(Tv, 2 * v.mlp, v.hidden) +
      s.frames * 4 * v.numPatches ** 2 * v.hidden;
    const patch = matmulFlops(Tv, v.hidden, v.channels * v.patchSize ** 2);
    phases.push({
      name: `vision (${s.frames} frames)`,
      flops: patch + v.runLayers * perLayer,
      bytes: z.vision * f16,
      launches: v.runLayers * 12,
      repeat: 1,
    });
    const media = s.frames * v.tokensPerFrame;
    const chunk = media / c.group;
    const q = c.latentsPerGroup;
    const perChunk =
      matmulFlops(q, c.innerDim, c.dim) +
      matmulFlops(chunk + q, 2 * c.innerDim, c.dim) +
      4 * q * (chunk + q) * c.innerDim +
      matmulFlops(q, c.dim, c.innerDim) +
      2 * matmulFlops(q, c.ffDim, c.dim);
    phases.push({
      name: 'connector',
      flops: matmulFlops(media, c.dim, c.inputDim) + c.layers * c.group * perChunk,
      bytes: media * c.dim * f16 * 4,
      launches: c.layers * 14,
      repeat: 1,
    });
  }
  const weightBytes = rolloutWeights === 'q4' ? z.llmLinearQ4 + z.tableQ4 : (z.llmLinear + z.table) * f16;
  phases.push({
    name: `prefill (${P} tokens, once)`,
    flops: matmulFlops(P, 1, z.llmLinear) + causal(P) + matmulFlops(1, t.vocab, t.hidden),
    bytes: weightBytes + P * L * kvRow * f16,
    launches: L * LAUNCHES.forwardPerLayer,
    repeat: 1,
  });
  // A decode step of G sequences: every weight read once for all G, each sequence's KV cache read.
  const ctxMean = P + n / 2;
  phases.push({
    name: `decode (${n} steps × ${s.G}, ${rolloutWeights === 'q4' ? '4-bit' : 'f16'})`,
    flops: matmulFlops(s.G, 1, z.llmLinear + z.table) + s.G * 4 * ctxMean * HD * L,
    bytes: weightBytes + s.G * ctxMean * L * kvRow * f16,
    launches: L * LAUNCHES.decodePerLayer + 6,
    repeat: n,
  });
  // The trainer's passes read the 4-bit weights (the policy's split copies and the model's own), once
  // per sequence; the backward's dX also writes and reads a dequantized f16 copy of each projection.
  const pass = matmulFlops(T, 1, z.llmLinear) + causal(T);
  const head = matmulFlops(n, t.vocab, t.hidden);
  const passBytes = z.llmLinearQ4 + z.tableQ4 + (L + 1) * T * t.hidden * f16;
  const dequantBytes = 2 * z.llmLinear * f16;
  phases.push({
    name: `reference log-probs (${s.G} × ${T} tokens)`,
    flops: s.G * (pass + head),
    bytes: s.G * passBytes,
    launches: s.G * (L * LAUNCHES.forwardPerLayer + 5),
    repeat: 1,
  });
  // Forward (keeping layer inputs) + recompute + dX through the frozen base; LoRA: forward twice and its
  // backward (dU, dX through A and B, dA, dB: about twice its forward); the head forward and dX.
  phases.push({
    name: 'policy forward + backward',
    flops: s.G * (3 * pass + 4 * lora(T) + 2 * head),
    bytes: s.G * (3 * passBytes + dequantBytes),
    launches: s.G * (L * (2 * LAUNCHES.forwardPerLayer + LAUNCHES.backwardPerLayer) + 10),
    repeat: 1,
  });
  // AdamW in f32: read p, g, m, v; write p, m, v; zero g; the clipping norm reads g again.
  phases.push({
    name: 'optimizer (AdamW)',
    flops: 12 * z.loraParameters,
    bytes: 36 * z.loraParameters,
    launches: 4,
    repeat: 1,
  });
  return phases;
}

/** Seconds of a phase on a GPU class. */
export function phaseSeconds(p: Phase, g: GpuClass): number {
  const compute = p.flops / (g.flops * g.computeEfficiency);
  const memory = p.bytes / (g.bandwidth * g.bandwidthEfficiency);
  return p.repeat * (Math.max(compute, memory) + p.launches * g.launch);
}

/** The R1 shapes of one GRPO step as the paper trains (MODEL.md). */
export const PAPER_STEP: GrpoShape = {
  frames: 16,
  textTokens: 88,
  G: 8,
  newTokens: 512,
  rank: 8,
  targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
};

/**
 * GPU memory of a step as the trainer is built: the inference weights (4-bit decoder, f16 tower), the
 * policy's 4-bit split copies of q/k/v and gate/up, the adapter with its f32 gradients and Adam moments, the
 * rollout KV cache, and the backward's largest transients (every layer's input kept, one layer's
 * activations recomputed, the completion rows' logits and their gradient in f32).
 */
export function grpoMemory(cfg: ModelConfig, s: GrpoShape): { name: string; bytes: number }[] {
  const t = cfg.text;
  const z = sizes(cfg, s);
  const T = z.promptTokens + s.newTokens;
  const f16 = 2;
  const layerActs = T * (6 * t.hidden + 4 * t.kvHeads * t.headDim + 3 * t.mlp) * f16;
  return [
    {
      name: 'inference weights (4-bit decoder, f16 tower)',
      bytes: z.llmLinearQ4 + z.tableQ4 + z.vision * f16,
    },
    { name: "policy's 4-bit copies of q/k/v, gate/up", bytes: z.splitCopiesQ4 },
    { name: 'LoRA A, B, gradients, Adam moments (f32)', bytes: 16 * z.loraParameters },
    {
      name: `KV cache, ${s.G} × ${T} positions (f16)`,
      bytes: s.G * T * t.layers * 2 * t.kvHeads * t.headDim * f16,
    },
    {
      name: 'backward: layer inputs, a layer, logits',
      bytes: (t.layers + 1) * T * t.hidden * f16 + layerActs + 2 * s.newTokens * t.vocab * 4,
    },
  ];
}
