/**
 * The demo model of `rl:demo`: the TinyLLaVA-Video architecture at toy size, written as a hub
 * checkpoint (config.json with the upstream keys, generation_config.json, model.safetensors, and
 * the moving-squares tokenizer), with random initial weights or the weights a run trained.
 *
 * Geometry: 128 px frames, patch 16 (8×8 patches, 63 tokens a frame once the first is dropped),
 * SigLIP width 64 with 2 layers (features = layer 1's output, as hidden_states[-2]); the connector
 * cuts 16 frames into 16 chunks of 4 latents (64 visual tokens), 1 resampler layer; Qwen2 with
 * d = 64, 2 layers, 4 heads over 2 KV heads, MLP 192, tied embeddings, the tokenizer's 486 ids.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GpuContext } from '../../src/gpu/context';
import { parseModelConfig } from '../../src/model/config';
import { encodeSafetensors, type TensorToWrite } from '../../src/model/safetensors-writer';
import { REPO_ROOT } from '../../src/model/testing/goldens';
import { expectedTensors } from '../../src/model/weight-manifest';
import type { Param } from '../../src/rl-lite/params';
import { type FixtureSpec, hubConfig } from '../fixtures/spec';

export const DEMO_FRAMES = 16;
export const TOKENIZER_DIR = join(REPO_ROOT, 'test-data/tokenizer-shapes');
/** `<|endoftext|>` of the moving-squares tokenizer: eos, pad. */
export const DEMO_EOS = 485;
const VOCAB = 486;

/** The connector's geometry: frames cut into `group` chunks, `numQueries` latents in all. */
export type DemoConnector = FixtureSpec['connector'];
/** The language model's geometry. */
export type DemoText = FixtureSpec['text'];

const SPEC: FixtureSpec = {
  name: 'tiny-r1-shapes',
  seed: 12,
  vision: { imageSize: 128, patchSize: 16, hidden: 64, layers: 2, heads: 4, mlp: 128 },
  connector: { group: DEMO_FRAMES, numQueries: 4 * DEMO_FRAMES, layers: 1 },
  text: { hidden: 64, layers: 2, heads: 4, kvHeads: 2, mlp: 192, ropeTheta: 10000, eps: 1e-6, tied: true },
  withVisionHead: false,
  shards: 1,
  goldenFrames: DEMO_FRAMES,
};

/**
 * config.json: the hub layout with this vocabulary and end token, prompts up to 512 tokens; `imageSize`
 * (a multiple of the patch) replaces the 128 px input.
 */
export function demoConfig(
  imageSize = SPEC.vision.imageSize,
  connector: DemoConnector = SPEC.connector,
  llm: Partial<DemoText> = {},
): Record<string, unknown> {
  const c = hubConfig({
    ...SPEC,
    vision: { ...SPEC.vision, imageSize },
    connector,
    text: { ...SPEC.text, ...llm },
  });
  const text = c.text_config as Record<string, unknown>;
  Object.assign(text, { vocab_size: VOCAB, bos_token_id: DEMO_EOS, eos_token_id: DEMO_EOS });
  text._name_or_path = 'tiny-r1-shapes';
  return {
    ...c,
    // Pixels in [0, 1]: black is 0, so a black patch embeds to the bias alone and a square stands out.
    image_mean: [0, 0, 0],
    image_std: [1, 1, 1],
    vocab_size: VOCAB,
    pad_token_id: DEMO_EOS,
    tokenizer_model_max_length: 512,
    llm_model_name_or_path: 'tiny-r1-shapes',
    tokenizer_name_or_path: 'tiny-r1-shapes',
  };
}

/**
 * Initial weights for training from scratch: Linear weights N(0, 1/fan_in), biases 0, norm gains 1,
 * embeddings N(0, 0.02²) (a GPT-2 style start). Chosen so that the clip shows in the visual tokens
 * from the first step (with N(0, 1) latents and positions, and black at −1, the visual tokens of
 * different clips differed by 2 % of their size and training never found the square): the patch
 * embedding N(0, 1/p²) (one channel's fan-in: a square's colour moves a patch by ~1), positions
 * N(0, 0.5²), the resampler's latents N(0, 0.02²) (they are the same for every clip).
 */
function initial(
  name: string,
  shape: number[],
  rand: () => number,
  embedStd: number,
  qScale: number,
): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const isNorm =
    /(norm|layernorm|layer_norm\d|norm_media|norm_latents)\.(weight|bias)$|\.1\.0\.(weight|bias)$/.test(name);
  if (isNorm) return out.fill(name.endsWith('.weight') ? 1 : 0);
  if (name.endsWith('bias')) return out;
  const std = name.endsWith('embed_tokens.weight')
    ? embedStd
    : name.endsWith('latents')
      ? 0.02
      : /position_embedding\.weight$/.test(name)
        ? 0.5
        : /patch_embedding\.weight$/.test(name)
          ? 1 / shape[2] // 1/p
          : (name.endsWith('to_q.weight') ? qScale : 1) /
            Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1));
  for (let i = 0; i < n; i++) out[i] = std * rand();
  return out;
}

/** The checkpoint's files: given weights by name (f32), or a random start for the ones not given. */
export function demoFiles(
  weights: ReadonlyMap<string, Float32Array> = new Map(),
  imageSize = SPEC.vision.imageSize,
  seed = SPEC.seed,
  /** Initial std of the (tied) embedding table: its rows are the text's inputs and the head's. */
  embedStd = 0.02,
  connector: DemoConnector = SPEC.connector,
  llm: Partial<DemoText> = {},
  /**
   * The resampler's query weights × qScale: sharper attention over a frame's patches at the start,
   * so a latent takes more of the square than of the black around it.
   */
  qScale = 1,
): Map<string, Uint8Array> {
  const json = demoConfig(imageSize, connector, llm);
  const cfg = parseModelConfig(json);
  const tensors: TensorToWrite[] = [];
  for (const e of expectedTensors(cfg)) {
    if (!e.used) continue;
    if (e.name.endsWith('inv_freq') || e.name.endsWith('position_ids') || e.name.endsWith('lm_head.weight'))
      continue;
    // A stream per tensor: the tower's start does not depend on the language model's geometry.
    const start = initial(e.name, e.shape, gaussian(seed ^ nameHash(e.name)), embedStd, qScale);
    const data = weights.get(e.name) ?? start;
    if (data.length !== start.length)
      throw new Error(`${e.name}: ${data.length} values, expected ${start.length}`);
    tensors.push({
      name: e.name,
      dtype: 'F32',
      shape: e.shape,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
  }
  const enc = new TextEncoder();
  const text = (o: unknown) => enc.encode(`${JSON.stringify(o, null, 2)}\n`);
  return new Map<string, Uint8Array>([
    ['config.json', text(json)],
    [
      'generation_config.json',
      text({ bos_token_id: DEMO_EOS, eos_token_id: DEMO_EOS, pad_token_id: DEMO_EOS }),
    ],
    ['model.safetensors', encodeSafetensors(tensors, { format: 'pt' })],
    ['tokenizer.json', new Uint8Array(readFileSync(join(TOKENIZER_DIR, 'tokenizer.json')))],
    ['tokenizer_config.json', new Uint8Array(readFileSync(join(TOKENIZER_DIR, 'tokenizer_config.json')))],
  ]);
}

/** FNV-1a of a tensor name. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32 uniforms → Box–Muller normals. */
function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * The trained tensors of a run, by checkpoint name, read back from the GPU: every parameter, with the
 * connector's to_k / to_v halves joined back into to_kv (k's rows, then v's) as the hub stores it.
 */
export async function trainedWeights(
  ctx: GpuContext,
  params: readonly Param[],
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const { name, p } of params) out.set(name, await ctx.read(p));
  return joinKv(out);
}

/** Joins every to_k / to_v pair (the trainer's halves) into the checkpoint's to_kv, in place. */
export function joinKv(weights: Map<string, Float32Array>): Map<string, Float32Array> {
  for (const name of [...weights.keys()]) {
    if (!name.endsWith('.to_k.weight')) continue;
    const v = name.replace(/to_k\.weight$/, 'to_v.weight');
    const k = weights.get(name)!;
    const kv = new Float32Array(k.length * 2);
    kv.set(k);
    kv.set(weights.get(v)!, k.length);
    weights.set(name.replace(/to_k\.weight$/, 'to_kv.weight'), kv);
    weights.delete(name);
    weights.delete(v);
  }
  return weights;
}
