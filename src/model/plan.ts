/**
 * The load plan: what a model needs of an adapter, decided before a byte is uploaded. Limits and the
 * memory budget are plain data (a real device cannot be made smaller than WebGPU's 128 MiB defaults,
 * tests pass lower ones). Vocabulary tables over the binding limit are split into row parts (the
 * embedding gather and the LM head read parts); any other tensor over it is refused, naming it. Against
 * a memory budget the context is shortened, then fewer frames go through the vision tower per pass,
 * before the load is refused with the numbers.
 */
import { GpuError } from '../gpu/errors';
import { type Q4Options, q4Layout } from '../gpu/kernels/quant/format';
import type { ModelConfig } from './config';
import { FUSED } from './fuse-weights';
import { PREFIX } from './weight-manifest';

export interface PlanLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export interface PlanInput {
  config: ModelConfig;
  /** The tensors the forward pass reads, as in the checkpoint (before fusing). */
  tensors: readonly { name: string; shape: readonly number[] }[];
  dtype: 'f16' | 'f32';
  /** 4-bit Linear weights (and tables, with quantizeTables); null: the activation dtype. */
  quantize: Q4Options | null;
  quantizeTables: boolean;
  /** A converted checkpoint: 4-bit tables arrive packed (parts sized by words, not by f32 rows). */
  converted?: boolean;
  limits: PlanLimits;
  /** GPU bytes the model may use; absent: unknown (WebGPU does not tell), only the limits are held. */
  memoryBudget?: number;
  /** Frames of a video (their features are kept for the connector); default 16 (MODEL.md). */
  frames?: number;
  /** Frames per vision-tower pass wanted (default 4). */
  framesPerPass?: number;
}

export interface ModelPlan {
  /** The largest buffer a binding may hold here: min(maxStorageBufferBindingSize, maxBufferSize). */
  binding: number;
  /** Tables split into row parts: rows per part and part count. */
  tables: { name: string; rows: number; parts: number }[];
  /** The context (spliced prompt + answer) the KV cache holds; ≤ config.maxLength. */
  maxLength: number;
  /** The longest prompt one prefill may take (its activations fit a binding); ≤ maxLength. */
  maxPrompt: number;
  framesPerPass: number;
  /** Estimated GPU bytes, by kind, and their sum. */
  bytes: { weights: number; kvCache: number; activations: number; vision: number; total: number };
  /** What was reduced against the budget and why, for the user. */
  notes: string[];
}

export const isVocabTable = (name: string) =>
  name === `${PREFIX.text}model.embed_tokens.weight` || name === `${PREFIX.text}lm_head.weight`;

/** Linear weights that go 4-bit when quantizing: the LLM layers' 2-D weights and the connector's. */
export function isQuantizable(name: string, shape: readonly number[]): boolean {
  if (shape.length !== 2 || !name.endsWith('.weight')) return false;
  if (name.startsWith(PREFIX.text)) return name.includes('.layers.');
  return name.startsWith(PREFIX.connector);
}

/** Rows per part of a [V, C] table so a part of `bytesPerElem`-byte elements fits `limit` (kept even). */
export function tablePartRows(V: number, C: number, bytesPerElem: number, limit: number): number {
  const rows = Math.floor(limit / (C * bytesPerElem));
  if (rows < 2) throw new Error(`a table row of ${C} values does not fit a ${limit}-byte binding`);
  return Math.min(V, rows - (rows % 2));
}

/** The binding limit a plan holds buffers to. */
export const bindingLimit = (l: PlanLimits) => Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;
const GB = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function q4Bytes(N: number, K: number, q: Q4Options): number {
  const L = q4Layout(N, K, q);
  const scale = L.scaleDtype === 'f32' ? 4 : 2;
  return N * L.words * 4 + N * L.groups * scale * (L.scheme === 'asym' ? 2 : 1);
}

/** Fewest tokens a context may be cut to: the visual tokens and a short question and answer. */
export const minContext = (cfg: ModelConfig) => cfg.connector.numQueries + 256;

export function planModel(input: PlanInput): ModelPlan {
  const { config: cfg, dtype, quantize, limits } = input;
  const elem = dtype === 'f16' ? 2 : 4;
  const binding = bindingLimit(limits);
  const refuse = (message: string, hint: string): never => {
    throw new GpuError('out-of-memory', message, hint);
  };

  // Weights: the resident bytes, and each buffer as uploaded (4-bit ones go up as f32 first).
  let weights = 0;
  const tables: ModelPlan['tables'] = [];
  const byName = new Map(input.tensors.map((t) => [t.name, t.shape]));
  for (const t of input.tensors) {
    const [N, K] = t.shape;
    if (isVocabTable(t.name) && t.shape.length === 2) {
      const q4 = !!quantize && input.quantizeTables;
      weights += q4 ? q4Bytes(N, K, quantize) : N * K * elem;
      const rowBytes = q4 ? (input.converted ? q4Layout(N, K, quantize).words * 4 : K * 4) : K * elem;
      if (2 * rowBytes > binding)
        refuse(
          `${t.name}: a row of ${K} values does not fit a ${MiB(binding)} GPU binding.`,
          'Use a GPU with a larger maxStorageBufferBindingSize.',
        );
      const rows = tablePartRows(N, rowBytes, 1, binding);
      if (rows < N) tables.push({ name: t.name, rows, parts: Math.ceil(N / rows) });
      continue;
    }
    const q4 = !!quantize && isQuantizable(t.name, t.shape);
    weights += q4 ? q4Bytes(N, K, quantize) : numel(t.shape) * elem;
    // A converted weight goes up packed; one quantized at load goes up as f32 first.
    const upload =
      q4 && input.converted ? q4Layout(N, K, quantize).words * 4 * N : numel(t.shape) * (q4 ? 4 : elem);
    if (upload > binding)
      refuse(
        `${t.name} needs ${MiB(upload)} in one GPU binding; this GPU allows ${MiB(binding)}.`,
        'Use a GPU with a larger maxStorageBufferBindingSize, or a quantized build of the model.',
      );
  }
  // The decoder's merged projections are one buffer each.
  for (let l = 0; l < cfg.text.layers; l++) {
    for (const f of [FUSED.qkv, FUSED.gateUp]) {
      const shapes = f.parts.map((p) => byName.get(`${PREFIX.text}model.layers.${l}.${p}.weight`));
      if (shapes.some((s) => !s)) continue;
      const N = shapes.reduce((n, s) => n + s![0], 0);
      const K = shapes[0]![1];
      const fused = quantize ? N * q4Layout(N, K, quantize).words * 4 : N * K * elem;
      if (fused > binding)
        refuse(
          `${PREFIX.text}model.layers.${l}.${f.name}.weight needs ${MiB(fused)} in one GPU binding; this GPU allows ${MiB(binding)}.`,
          'Use a GPU with a larger maxStorageBufferBindingSize, or a quantized build of the model.',
        );
    }
  }

  const t = cfg.text;
  const v = cfg.vision;
  const frames = input.frames ?? 16;
  const kvBytes = (S: number) => t.layers * 2 * S * t.kvHeads * t.headDim * elem;
  // The prefill's largest live activations at S positions: the f32 stream, the normed input, the
  // widest projection (qkv or gate·up), the SiLU product, attention's output, and the logits.
  const prefillBytes = (S: number) =>
    S * t.hidden * 4 +
    S *
      (t.hidden + Math.max(2 * t.mlp, (t.heads + 2 * t.kvHeads) * t.headDim) + t.mlp + t.heads * t.headDim) *
      elem +
    2 * t.vocab * elem;
  // One vision pass of F frames: the stream, the normed input, q, k, v, attention's output and the
  // MLP's hidden layer (attention is online-softmax: no score matrix); plus every frame's features,
  // kept for the connector.
  const P = v.numPatches;
  const passBytes = (F: number) => F * P * (6 * v.hidden + v.mlp) * elem;
  const largestPass = (F: number) => F * P * Math.max(v.mlp, 3 * v.hidden) * elem;
  const featureBytes = frames * v.tokensPerFrame * v.hidden * elem;

  let S = cfg.maxLength;
  let F = Math.max(1, Math.min(input.framesPerPass ?? 4, frames));
  const notes: string[] = [];
  const minS = Math.min(S, minContext(cfg));
  // Buffers first: one layer's K (or V) cache bounds the context; the widest prefill activation
  // ([T, 2·mlp]) bounds the prompt, which is cut to it (the answer's steps are one position each).
  const kvLayer = (s: number) => s * t.kvHeads * t.headDim * elem;
  const widestRow = Math.max(2 * t.mlp, 2 * t.hidden, (t.heads + 2 * t.kvHeads) * t.headDim) * elem;
  while (S > minS && kvLayer(S) > binding) S = Math.max(minS, S >> 1);
  while (F > 1 && largestPass(F) > binding) F >>= 1;
  const promptCap = () => Math.min(S, Math.floor(binding / widestRow));
  if (kvLayer(S) > binding || promptCap() < minS || largestPass(F) > binding)
    refuse(
      `The model's activations need buffers over this GPU's ${MiB(binding)} binding limit even with a ${minS}-token prompt and ${F} frame per pass.`,
      'Use a GPU with a larger maxStorageBufferBindingSize.',
    );
  if (S < cfg.maxLength)
    notes.push(
      `Context shortened to ${S} tokens (from ${cfg.maxLength}): a longer one needs buffers over the ${MiB(binding)} binding limit.`,
    );
  if (promptCap() < S)
    notes.push(
      `Prompts are cut at ${promptCap()} tokens: a longer prefill needs buffers over the ${MiB(binding)} binding limit.`,
    );
  if (F < (input.framesPerPass ?? 4))
    notes.push(`${F} frame(s) per vision pass: more need buffers over the ${MiB(binding)} binding limit.`);

  const estimate = (s: number, f: number) => {
    const kvCache = kvBytes(s);
    const activations = prefillBytes(Math.min(s, Math.floor(binding / widestRow)));
    const vision = passBytes(f) + featureBytes;
    // The phases' scratch is freed between them (vision, connector, prefill): the larger one counts.
    return {
      weights,
      kvCache,
      activations,
      vision,
      total: weights + kvCache + Math.max(activations, vision) + featureBytes,
    };
  };
  let bytes = estimate(S, F);
  const budget = input.memoryBudget;
  if (budget !== undefined && bytes.total > budget) {
    const S0 = S;
    const F0 = F;
    while (bytes.total > budget && (S > minS || F > 1)) {
      if (S > minS) S = Math.max(minS, S >> 1);
      else F >>= 1;
      bytes = estimate(S, F);
    }
    if (bytes.total > budget)
      refuse(
        `This model needs about ${GB(bytes.total)} of GPU memory (weights ${GB(bytes.weights)}, KV cache ${GB(bytes.kvCache)}, activations ${GB(Math.max(bytes.activations, bytes.vision) + featureBytes)}) even with a ${S}-token context and ${F} frame per pass; ${GB(budget)} is available.`,
        'Close other GPU-heavy tabs, use a GPU with more memory, or load a smaller model.',
      );
    if (S < S0)
      notes.push(`Context shortened to ${S} tokens (from ${S0}) to fit ${GB(budget)} of GPU memory.`);
    if (F < F0) notes.push(`${F} frame(s) per vision pass (from ${F0}) to fit ${GB(budget)} of GPU memory.`);
  }
  return { binding, tables, maxLength: S, maxPrompt: promptCap(), framesPerPass: F, bytes, notes };
}
