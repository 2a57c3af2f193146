/**
 * Every tensor a TinyLLaVA-Video checkpoint holds, with the hub's exact names and the shapes a
 * ModelConfig implies, and the check run on the safetensors headers before anything is uploaded.
 *
 * The rule for names:
 * - `used` tensors are the ones the forward pass reads; each must be present.
 * - known-but-unused tensors may be present or absent: SigLIP layers past the feature layer
 *   (hidden_states[-2] skips the last layer), post_layernorm and the pooling head (never applied),
 *   lm_head.weight when the embeddings are tied (the logits use embed_tokens), and buffers some
 *   exporters persist (position_ids, rotary inv_freq). They are listed in the report as "unused".
 * - any other name is an error: it means a different architecture or config.
 * Every present tensor, used or not, must have the expected shape and an allowed dtype.
 *
 * Sources (upstream code): language_model = Qwen2ForCausalLM; vision_tower._vision_tower =
 * SiglipVisionModel; connector._connector = groupresampler's PerceiverResampler, whose layers are
 * ModuleList([PerceiverAttention, FeedForward = Sequential(LayerNorm, Linear, GELU, Linear)]), so
 * the feed-forward weights are `layers.N.1.{0,1,3}`.
 */
import type { ModelConfig } from './config';
import type { StDtype } from './safetensors';

export const PREFIX = {
  text: 'language_model.',
  vision: 'vision_tower._vision_tower.vision_model.',
  connector: 'connector._connector.',
} as const;

export type Component = keyof typeof PREFIX;

export interface ExpectedTensor {
  name: string;
  shape: number[];
  component: Component;
  /** Read by the forward pass: must be present. Otherwise known but unused: optional. */
  used: boolean;
}

export function expectedTensors(cfg: ModelConfig): ExpectedTensor[] {
  return [...textTensors(cfg), ...visionTensors(cfg), ...connectorTensors(cfg)];
}

function textTensors(cfg: ModelConfig): ExpectedTensor[] {
  const { hidden: C, heads: H, kvHeads: KV, headDim: D, mlp: M, vocab: V, layers } = cfg.text;
  const out: ExpectedTensor[] = [];
  const add = (name: string, shape: number[], used = true) =>
    out.push({ name: PREFIX.text + name, shape, component: 'text', used });
  add('model.embed_tokens.weight', [V, C]);
  for (let i = 0; i < layers; i++) {
    const l = `model.layers.${i}.`;
    add(l + 'input_layernorm.weight', [C]);
    add(l + 'self_attn.q_proj.weight', [H * D, C]);
    add(l + 'self_attn.q_proj.bias', [H * D]);
    add(l + 'self_attn.k_proj.weight', [KV * D, C]);
    add(l + 'self_attn.k_proj.bias', [KV * D]);
    add(l + 'self_attn.v_proj.weight', [KV * D, C]);
    add(l + 'self_attn.v_proj.bias', [KV * D]);
    add(l + 'self_attn.o_proj.weight', [C, H * D]);
    add(l + 'self_attn.rotary_emb.inv_freq', [D / 2], false);
    add(l + 'post_attention_layernorm.weight', [C]);
    add(l + 'mlp.gate_proj.weight', [M, C]);
    add(l + 'mlp.up_proj.weight', [M, C]);
    add(l + 'mlp.down_proj.weight', [C, M]);
  }
  add('model.rotary_emb.inv_freq', [D / 2], false);
  add('model.norm.weight', [C]);
  add('lm_head.weight', [V, C], !cfg.text.tieWordEmbeddings);
  return out;
}

function visionTensors(cfg: ModelConfig): ExpectedTensor[] {
  const { hidden: C, mlp: M, patchSize: p, channels, numPatches: P, layers, runLayers } = cfg.vision;
  const out: ExpectedTensor[] = [];
  const add = (name: string, shape: number[], used = true) =>
    out.push({ name: PREFIX.vision + name, shape, component: 'vision', used });
  add('embeddings.patch_embedding.weight', [C, channels, p, p]);
  add('embeddings.patch_embedding.bias', [C]);
  add('embeddings.position_embedding.weight', [P, C]);
  add('embeddings.position_ids', [1, P], false);
  for (let i = 0; i < layers; i++) {
    const l = `encoder.layers.${i}.`;
    const used = i < runLayers;
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      add(`${l}${ln}.weight`, [C], used);
      add(`${l}${ln}.bias`, [C], used);
    }
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      add(`${l}self_attn.${proj}.weight`, [C, C], used);
      add(`${l}self_attn.${proj}.bias`, [C], used);
    }
    add(l + 'mlp.fc1.weight', [M, C], used);
    add(l + 'mlp.fc1.bias', [M], used);
    add(l + 'mlp.fc2.weight', [C, M], used);
    add(l + 'mlp.fc2.bias', [C], used);
  }
  // hidden_states are taken before post_layernorm, and the pooling head is never run.
  add('post_layernorm.weight', [C], false);
  add('post_layernorm.bias', [C], false);
  add('head.probe', [1, 1, C], false);
  add('head.attention.in_proj_weight', [3 * C, C], false);
  add('head.attention.in_proj_bias', [3 * C], false);
  add('head.attention.out_proj.weight', [C, C], false);
  add('head.attention.out_proj.bias', [C], false);
  add('head.layernorm.weight', [C], false);
  add('head.layernorm.bias', [C], false);
  add('head.mlp.fc1.weight', [M, C], false);
  add('head.mlp.fc1.bias', [M], false);
  add('head.mlp.fc2.weight', [C, M], false);
  add('head.mlp.fc2.bias', [C], false);
  return out;
}

function connectorTensors(cfg: ModelConfig): ExpectedTensor[] {
  const { dim: C, inputDim: Cv, latentsPerGroup: Q, layers, innerDim: I, ffDim: FF } = cfg.connector;
  const out: ExpectedTensor[] = [];
  const add = (name: string, shape: number[]) =>
    out.push({ name: PREFIX.connector + name, shape, component: 'connector', used: true });
  add('latents', [Q, C]);
  add('linear.weight', [C, Cv]);
  add('linear.bias', [C]);
  for (let i = 0; i < layers; i++) {
    const attn = `layers.${i}.0.`;
    add(attn + 'norm_media.weight', [C]);
    add(attn + 'norm_media.bias', [C]);
    add(attn + 'norm_latents.weight', [C]);
    add(attn + 'norm_latents.bias', [C]);
    add(attn + 'to_q.weight', [I, C]);
    add(attn + 'to_kv.weight', [2 * I, C]);
    add(attn + 'to_out.weight', [C, I]);
    const ff = `layers.${i}.1.`;
    add(ff + '0.weight', [C]); // LayerNorm
    add(ff + '0.bias', [C]);
    add(ff + '1.weight', [FF, C]); // Linear up, no bias
    add(ff + '3.weight', [C, FF]); // Linear down (index 2 is the GELU), no bias
  }
  add('norm.weight', [C]);
  add('norm.bias', [C]);
  return out;
}

export interface FoundTensor {
  name: string;
  dtype: StDtype;
  shape: readonly number[];
}

export interface WeightReport {
  ok: boolean;
  /** Used tensors the checkpoint lacks. */
  missing: string[];
  /** Names the manifest does not know. */
  unexpected: string[];
  misshaped: { name: string; expected: number[]; got: number[] }[];
  wrongDtype: { name: string; dtype: StDtype }[];
  /** Known tensors present but never read (skipped at upload). */
  unused: string[];
  /** The tensors to upload, in manifest order. */
  used: ExpectedTensor[];
}

/** bf16 is what the hub stores; f16 and f32 convert as well. */
export const FLOAT_DTYPES: readonly StDtype[] = ['BF16', 'F16', 'F32'];

export function checkWeights(
  cfg: ModelConfig,
  found: Iterable<FoundTensor>,
  dtypes: readonly StDtype[] = FLOAT_DTYPES,
): WeightReport {
  const expected = new Map(expectedTensors(cfg).map((e) => [e.name, e]));
  const have = new Map<string, FoundTensor>();
  for (const f of found) have.set(f.name, f);
  const r: WeightReport = {
    ok: true,
    missing: [],
    unexpected: [],
    misshaped: [],
    wrongDtype: [],
    unused: [],
    used: [],
  };
  for (const e of expected.values()) {
    if (have.has(e.name)) {
      if (e.used) r.used.push(e);
      else r.unused.push(e.name);
    } else if (e.used) r.missing.push(e.name);
  }
  for (const f of have.values()) {
    const e = expected.get(f.name);
    if (!e) {
      r.unexpected.push(f.name);
      continue;
    }
    if (!sameShape(e.shape, f.shape))
      r.misshaped.push({ name: f.name, expected: e.shape, got: [...f.shape] });
    // Integer buffers (position_ids) are never read, so their dtype does not matter.
    if (e.used && !dtypes.includes(f.dtype)) r.wrongDtype.push({ name: f.name, dtype: f.dtype });
  }
  r.ok = !r.missing.length && !r.unexpected.length && !r.misshaped.length && !r.wrongDtype.length;
  return r;
}

export class WeightManifestError extends Error {
  readonly report: WeightReport;
  constructor(report: WeightReport, source: string, dtypes: readonly StDtype[] = FLOAT_DTYPES) {
    super(describeProblems(report, source, dtypes));
    this.name = 'WeightManifestError';
    this.report = report;
  }
}

/** Throws WeightManifestError naming every problem (a few per kind, then a count). */
export function assertWeights(
  cfg: ModelConfig,
  found: Iterable<FoundTensor>,
  source = 'the checkpoint',
  dtypes: readonly StDtype[] = FLOAT_DTYPES,
): WeightReport {
  const r = checkWeights(cfg, found, dtypes);
  if (!r.ok) throw new WeightManifestError(r, source, dtypes);
  return r;
}

function describeProblems(r: WeightReport, source: string, dtypes: readonly StDtype[]): string {
  const shown = 8;
  const list = (items: string[]) =>
    items.slice(0, shown).join(', ') + (items.length > shown ? ` and ${items.length - shown} more` : '');
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing ${r.missing.length}: ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unknown ${r.unexpected.length}: ${list(r.unexpected)}`);
  if (r.misshaped.length)
    parts.push(
      `wrong shape ${r.misshaped.length}: ` +
        list(
          r.misshaped.map((m) => `${m.name} is [${m.got.join(', ')}], expected [${m.expected.join(', ')}]`),
        ),
    );
  if (r.wrongDtype.length)
    parts.push(
      `wrong dtype ${r.wrongDtype.length}: ` +
        list(r.wrongDtype.map((w) => `${w.name} is ${w.dtype}, expected ${dtypes.join('/')}`)),
    );
  return `${source} does not match its config.json — ${parts.join('; ')}`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
