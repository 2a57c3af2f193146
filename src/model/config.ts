/**
 * The model's config: the hub's config.json (model_type `tinyllava`) → one typed `ModelConfig`.
 *
 * Key names follow upstream TinyLlavaConfig (TinyLLaVA-Video): top-level `connector_type`, `group`,
 * `num_queries`, `num_resampler_layers`, `hidden_size`, `vision_hidden_size`, `vision_feature_layer`,
 * `vision_feature_select_strategy`, `tokenizer_model_max_length`, `vision_model_name_or_path`, and the
 * nested `text_config` (a Qwen2Config dict) and `vision_config` (a SiglipVisionConfig dict).
 * Plausible alternative spellings also accepted: `mm_vision_select_layer`, `mm_vision_select_feature`,
 * `model_max_length` (the training-argument names upstream copies from).
 *
 * transformers writes nested configs as a diff, so a key may be absent: a missing text key takes the
 * Qwen2Config default (rms_norm_eps 1e-6, rope_theta 10000, tie_word_embeddings false, …; the five
 * dimension keys are required), and a missing vision key takes SigLIP so400m-patch14-384's value
 * (MODEL.md: 384 px, patch 14, hidden 1152, 27 layers, 16 heads, MLP 4304, eps 1e-6).
 * The pixel normalisation (`image_mean`, `image_std`: an image processor's keys) is read from the top
 * level or vision_config when a checkpoint writes it, else SigLIP's: upstream's SiglipImageProcessor
 * uses mean 0.5 and std 0.5 per channel (x/255 mapped to [−1, 1]).
 * Dimension letters (MODEL.md): C hidden, H heads, D head dim, V vocab, P patches.
 */

export type ConfigErrorCode =
  | 'bad-json'
  | 'unknown-model-type'
  | 'unknown-connector'
  | 'unsupported'
  | 'invalid';

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  /** The config key at fault, when there is one (dotted, e.g. `text_config.hidden_size`). */
  readonly key: string | undefined;
  constructor(code: ConfigErrorCode, message: string, key?: string) {
    super(message);
    this.name = 'ConfigError';
    this.code = code;
    this.key = key;
  }
}

export interface VisionConfig {
  /** Input side S in pixels (frames are resized to S×S). */
  imageSize: number;
  patchSize: number;
  /** Patches per side: floor(S / patch) — a stride-patch convolution drops the remainder pixels. */
  gridSize: number;
  /** P = gridSize²: the tokens the tower produces per frame (SigLIP has no class token). */
  numPatches: number;
  channels: number;
  hidden: number;
  layers: number;
  heads: number;
  headDim: number;
  mlp: number;
  /** LayerNorm eps (1e-6 for SigLIP). */
  eps: number;
  hiddenAct: string;
  /** As in config.json: an index into hidden_states (N + 1 entries), negative from the end. */
  featureLayer: number;
  /** Encoder layers to run to reach the feature layer: hidden_states[k] is the output of layer k (1-based). */
  runLayers: number;
  /** `patch`: drop the first token of the selected layer (upstream quirk); `cls_patch`: keep all. */
  selectStrategy: 'patch' | 'cls_patch';
  /** Tokens per frame that reach the connector: numPatches − 1 with `patch`. */
  tokensPerFrame: number;
  /** Pixel normalisation, R, G, B: x/255 → (x − imageMean)/imageStd (SigLIP: 0.5 and 0.5). */
  imageMean: readonly [number, number, number];
  imageStd: readonly [number, number, number];
}

export interface ConnectorConfig {
  type: 'groupresampler';
  /** Input width (vision hidden) and output width (text hidden). */
  inputDim: number;
  dim: number;
  /** The frames' token sequence is cut into `group` chunks, each resampled on its own. */
  group: number;
  /** Total output tokens (= group × latentsPerGroup). */
  numQueries: number;
  latentsPerGroup: number;
  layers: number;
  /** Perceiver attention: hard-coded 8 heads × 64 upstream, whatever the width. */
  heads: number;
  dimHead: number;
  innerDim: number;
  /** Feed-forward hidden width (4 × dim). */
  ffDim: number;
  /** PyTorch's LayerNorm default. */
  eps: number;
  /** Sinusoidal position encoding base (added over 0..numQueries−1, built in fp16). */
  peBase: number;
}

export interface TextConfig {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  mlp: number;
  vocab: number;
  ropeTheta: number;
  eps: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  hiddenAct: string;
}

export interface ModelConfig {
  modelType: 'tinyllava';
  vision: VisionConfig;
  connector: ConnectorConfig;
  text: TextConfig;
  /** The spliced input (text + visual tokens) is cut to this many positions. */
  maxLength: number;
  /** Names kept for display and for fetching a tokenizer when the checkpoint has none. */
  llmName: string;
  tokenizerName: string;
  visionName: string;
  padTokenId: number | undefined;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
}

/** SigLIP so400m-patch14-384 (MODEL.md), used where vision_config is silent. */
export const SIGLIP_SO400M = {
  image_size: 384,
  patch_size: 14,
  num_channels: 3,
  hidden_size: 1152,
  num_hidden_layers: 27,
  num_attention_heads: 16,
  intermediate_size: 4304,
  layer_norm_eps: 1e-6,
  hidden_act: 'gelu_pytorch_tanh',
  // SiglipImageProcessor's defaults (transformers): IMAGENET_STANDARD_MEAN / _STD.
  image_mean: [0.5, 0.5, 0.5],
  image_std: [0.5, 0.5, 0.5],
} as const;

/** Qwen2Config's class defaults (transformers), used where text_config is silent. */
const QWEN2_DEFAULTS = {
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  max_position_embeddings: 32768,
  hidden_act: 'silu',
} as const;

type Json = Record<string, unknown>;

/** Parses config.json text (or an already-parsed object). */
export function parseModelConfig(input: string | Json): ModelConfig {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new ConfigError('bad-json', `config.json is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(raw)) throw new ConfigError('bad-json', 'config.json must hold a JSON object');
  const modelType = raw.model_type;
  if (modelType !== 'tinyllava')
    throw new ConfigError(
      'unknown-model-type',
      `unsupported model_type ${JSON.stringify(modelType)}: this app runs TinyLLaVA-Video checkpoints (model_type "tinyllava")`,
      'model_type',
    );

  const text = parseText(raw);
  const vision = parseVision(raw);
  const connector = parseConnector(raw, vision, text);
  return {
    modelType: 'tinyllava',
    vision,
    connector,
    text,
    maxLength: posInt(
      intOr(raw, ['tokenizer_model_max_length', 'model_max_length'], 2048),
      'tokenizer_model_max_length',
    ),
    llmName: str(raw.llm_model_name_or_path),
    tokenizerName: str(raw.tokenizer_name_or_path) || str(raw.llm_model_name_or_path),
    visionName: visionName(raw),
    padTokenId: optInt(raw.pad_token_id),
    bosTokenId: optInt(obj(raw.text_config).bos_token_id),
    eosTokenId: optInt(obj(raw.text_config).eos_token_id),
  };
}

function parseText(raw: Json): TextConfig {
  if (!isObject(raw.text_config))
    throw new ConfigError('invalid', 'config.json has no text_config object', 'text_config');
  const t = raw.text_config;
  const mt = t.model_type;
  if (mt !== undefined && mt !== 'qwen2')
    throw new ConfigError(
      'unsupported',
      `unsupported language model type ${JSON.stringify(mt)} (text_config.model_type): only Qwen2 (qwen2) is implemented`,
      'text_config.model_type',
    );
  const key = (k: string) => `text_config.${k}`;
  const hidden = reqInt(t, 'hidden_size', key);
  const heads = reqInt(t, 'num_attention_heads', key);
  const kvHeads = posInt(
    intOr(t, ['num_key_value_heads'], heads, 'text_config.'),
    key('num_key_value_heads'),
  );
  // Qwen2 derives head_dim from hidden / heads; newer configs may spell it out.
  const headDim =
    t.head_dim === undefined
      ? hidden / heads
      : posInt(intOr(t, ['head_dim'], 0, 'text_config.'), key('head_dim'));
  const top = optInt(raw.hidden_size);
  if (top !== undefined && top !== hidden)
    throw new ConfigError(
      'invalid',
      `hidden_size ${top} differs from text_config.hidden_size ${hidden} (the connector uses the top-level one)`,
      'hidden_size',
    );
  const cfg: TextConfig = {
    hidden,
    layers: reqInt(t, 'num_hidden_layers', key),
    heads,
    kvHeads,
    headDim,
    mlp: reqInt(t, 'intermediate_size', key),
    vocab: reqInt(t, 'vocab_size', key),
    ropeTheta: numOr(t, 'rope_theta', QWEN2_DEFAULTS.rope_theta, 'text_config.'),
    eps: numOr(t, 'rms_norm_eps', QWEN2_DEFAULTS.rms_norm_eps, 'text_config.'),
    tieWordEmbeddings: boolOr(t, 'tie_word_embeddings', QWEN2_DEFAULTS.tie_word_embeddings, 'text_config.'),
    maxPositionEmbeddings: posInt(
      intOr(t, ['max_position_embeddings'], QWEN2_DEFAULTS.max_position_embeddings, 'text_config.'),
      key('max_position_embeddings'),
    ),
    hiddenAct: typeof t.hidden_act === 'string' ? t.hidden_act : QWEN2_DEFAULTS.hidden_act,
  };
  if (!Number.isInteger(headDim) || headDim * heads !== hidden)
    throw new ConfigError(
      'invalid',
      t.head_dim === undefined
        ? `text_config.num_attention_heads ${heads} does not divide text_config.hidden_size ${hidden}`
        : `text_config.hidden_size ${hidden} is not num_attention_heads ${heads} × head_dim ${headDim}`,
      key(t.head_dim === undefined ? 'num_attention_heads' : 'head_dim'),
    );
  if (heads % kvHeads !== 0)
    throw new ConfigError(
      'invalid',
      `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`,
      key('num_key_value_heads'),
    );
  if (headDim % 2 !== 0)
    throw new ConfigError('invalid', `RoPE needs an even head_dim, got ${headDim}`, key('head_dim'));
  if (cfg.hiddenAct !== 'silu')
    throw new ConfigError('unsupported', `unsupported text hidden_act ${cfg.hiddenAct}`, key('hidden_act'));
  const topVocab = optInt(raw.vocab_size);
  if (topVocab !== undefined && topVocab !== cfg.vocab)
    throw new ConfigError(
      'invalid',
      `vocab_size ${topVocab} differs from text_config.vocab_size ${cfg.vocab}`,
      'vocab_size',
    );
  return cfg;
}

function visionName(raw: Json): string {
  // Upstream strips an optional `tower:` prefix ("siglip:google/...").
  return str(raw.vision_model_name_or_path).split(':').pop() ?? '';
}

function parseVision(raw: Json): VisionConfig {
  const v = isObject(raw.vision_config) ? raw.vision_config : {};
  const name = visionName(raw);
  const mt = v.model_type;
  const isSiglip =
    mt === 'siglip_vision_model' ||
    mt === 'siglip' ||
    /siglip/i.test(name) ||
    (mt === undefined && name === '');
  if (!isSiglip)
    throw new ConfigError(
      'unsupported',
      `unsupported vision tower ${JSON.stringify(mt ?? name)} (vision_config.model_type): only SigLIP is implemented`,
      'vision_config.model_type',
    );
  const d = SIGLIP_SO400M;
  const key = (k: string) => `vision_config.${k}`;
  const dim = (k: keyof typeof d & string) => posInt(intOr(v, [k], d[k] as number, 'vision_config.'), key(k));
  const imageSize = dim('image_size');
  const patchSize = dim('patch_size');
  const hidden = dim('hidden_size');
  const layers = dim('num_hidden_layers');
  const heads = dim('num_attention_heads');
  const channels = dim('num_channels');
  const hiddenAct = typeof v.hidden_act === 'string' ? v.hidden_act : d.hidden_act;
  if (hiddenAct !== 'gelu_pytorch_tanh')
    throw new ConfigError('unsupported', `unsupported vision hidden_act ${hiddenAct}`, key('hidden_act'));
  if (hidden % heads !== 0)
    throw new ConfigError(
      'invalid',
      `vision_config.num_attention_heads ${heads} does not divide vision_config.hidden_size ${hidden}`,
      key('num_attention_heads'),
    );
  if (patchSize > imageSize)
    throw new ConfigError(
      'invalid',
      `patch_size ${patchSize} exceeds image_size ${imageSize}`,
      key('patch_size'),
    );
  const topHidden = optInt(raw.vision_hidden_size);
  if (topHidden !== undefined && topHidden !== hidden)
    throw new ConfigError(
      'invalid',
      `vision_hidden_size ${topHidden} differs from vision_config.hidden_size ${hidden}`,
      'vision_hidden_size',
    );

  const featureLayer = intOr(raw, ['vision_feature_layer', 'mm_vision_select_layer'], -2);
  // hidden_states holds N + 1 entries: [embeddings, layer 1 out, …, layer N out].
  const runLayers = featureLayer < 0 ? layers + 1 + featureLayer : featureLayer;
  if (runLayers < 0 || runLayers > layers)
    throw new ConfigError(
      'invalid',
      `vision_feature_layer ${featureLayer} is outside hidden_states of a ${layers}-layer tower`,
      'vision_feature_layer',
    );
  const strategy = raw.vision_feature_select_strategy ?? raw.mm_vision_select_feature ?? 'patch';
  if (strategy !== 'patch' && strategy !== 'cls_patch')
    throw new ConfigError(
      'unsupported',
      `unsupported vision_feature_select_strategy ${JSON.stringify(strategy)} (expected "patch" or "cls_patch")`,
      'vision_feature_select_strategy',
    );
  const gridSize = Math.floor(imageSize / patchSize);
  const numPatches = gridSize * gridSize;
  // Each size is a safe integer, but the patch count is a square: 2^53 - 1 pixels gave 4e29 patches.
  if (!Number.isSafeInteger(numPatches))
    throw new ConfigError(
      'invalid',
      `image_size ${imageSize} / patch_size ${patchSize} gives ${gridSize}² patches per frame, too many to count`,
      key('image_size'),
    );
  if (strategy === 'patch' && numPatches < 2)
    throw new ConfigError(
      'invalid',
      `image_size ${imageSize} / patch_size ${patchSize} gives one patch per frame, which the "patch" strategy drops: no visual tokens`,
      key('patch_size'),
    );
  return {
    imageSize,
    patchSize,
    gridSize,
    numPatches,
    channels,
    hidden,
    layers,
    heads,
    headDim: hidden / heads,
    mlp: dim('intermediate_size'),
    eps: numOr(v, 'layer_norm_eps', d.layer_norm_eps, 'vision_config.'),
    hiddenAct,
    featureLayer,
    runLayers,
    selectStrategy: strategy,
    tokensPerFrame: strategy === 'patch' ? numPatches - 1 : numPatches,
    imageMean: channelStats(raw, v, 'image_mean', d.image_mean),
    imageStd: channelStats(raw, v, 'image_std', d.image_std),
  };
}

/**
 * `image_mean` / `image_std` from vision_config, else the top level, else `dflt`: three numbers (R, G, B)
 * or one for all channels, as image processors accept. A std must be positive.
 */
function channelStats(
  raw: Json,
  v: Json,
  k: 'image_mean' | 'image_std',
  dflt: readonly [number, number, number],
): [number, number, number] {
  const [at, val] = v[k] !== undefined && v[k] !== null ? [`vision_config.${k}`, v[k]] : [k, raw[k]];
  if (val === undefined || val === null) return [...dflt];
  const xs = typeof val === 'number' ? [val, val, val] : val;
  const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && (k === 'image_mean' || x > 0);
  if (!Array.isArray(xs) || xs.length !== 3 || !xs.every(ok))
    throw new ConfigError(
      'invalid',
      `${at} must be 3 ${k === 'image_std' ? 'positive ' : ''}numbers (R, G, B), got ${JSON.stringify(val)}`,
      at,
    );
  return [xs[0], xs[1], xs[2]];
}

function parseConnector(raw: Json, vision: VisionConfig, text: TextConfig): ConnectorConfig {
  const type = raw.connector_type;
  if (type !== 'groupresampler')
    throw new ConfigError(
      'unknown-connector',
      `unsupported connector_type ${JSON.stringify(type)}: only "groupresampler" (TinyLLaVA-Video) is implemented`,
      'connector_type',
    );
  const group = reqInt(raw, 'group', (k) => k);
  const numQueries = reqInt(raw, 'num_queries', (k) => k);
  const layers = reqInt(raw, 'num_resampler_layers', (k) => k);
  if (numQueries % group !== 0)
    throw new ConfigError(
      'invalid',
      `num_queries ${numQueries} is not a multiple of group ${group}`,
      'num_queries',
    );
  const heads = 8;
  const dimHead = 64;
  return {
    type: 'groupresampler',
    inputDim: vision.hidden,
    dim: text.hidden,
    group,
    numQueries,
    latentsPerGroup: numQueries / group,
    layers,
    heads,
    dimHead,
    innerDim: heads * dimHead,
    ffDim: 4 * text.hidden,
    eps: 1e-5,
    peBase: 10000,
  };
}

export interface GenerationConfig {
  bosTokenId: number | undefined;
  /** Generation stops at any of these. */
  eosTokenIds: number[];
  padTokenId: number | undefined;
  doSample: boolean | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  topK: number | undefined;
  maxNewTokens: number | undefined;
}

/** generation_config.json (bos/eos 151643 in the hub repo; sampling keys when present). */
export function parseGenerationConfig(input: string | Json): GenerationConfig {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new ConfigError('bad-json', `generation_config.json is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(raw)) throw new ConfigError('bad-json', 'generation_config.json must hold a JSON object');
  const eos = raw.eos_token_id;
  const eosTokenIds = Array.isArray(eos)
    ? eos.filter(Number.isInteger)
    : Number.isInteger(eos)
      ? [eos as number]
      : [];
  return {
    bosTokenId: optInt(raw.bos_token_id),
    eosTokenIds,
    padTokenId: optInt(raw.pad_token_id),
    doSample: typeof raw.do_sample === 'boolean' ? raw.do_sample : undefined,
    temperature: optNum(raw.temperature),
    topP: optNum(raw.top_p),
    topK: optInt(raw.top_k),
    maxNewTokens: optInt(raw.max_new_tokens),
  };
}

// ---- small readers: each names the key it rejects ----

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const obj = (v: unknown): Json => (isObject(v) ? v : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
// Safe integers only: 1e308 is an "integer" to Number.isInteger but no size.
const optInt = (v: unknown): number | undefined => (Number.isSafeInteger(v) ? (v as number) : undefined);
const optNum = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

function reqInt(o: Json, k: string, key: (k: string) => string): number {
  const v = o[k];
  if (v === undefined) throw new ConfigError('invalid', `config.json is missing ${key(k)}`, key(k));
  if (!Number.isSafeInteger(v) || (v as number) <= 0)
    throw new ConfigError(
      'invalid',
      `${key(k)} must be a positive integer, got ${JSON.stringify(v)}`,
      key(k),
    );
  return v as number;
}

/**
 * The first of `keys` present (an integer; may be negative where a layer index is meant), else `dflt`.
 * `at` prefixes the key in errors ('text_config.'), so the message names the nested key.
 */
function intOr(o: Json, keys: string[], dflt: number, at = ''): number {
  for (const k of keys) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (!Number.isSafeInteger(v))
      throw new ConfigError('invalid', `${at}${k} must be an integer, got ${JSON.stringify(v)}`, at + k);
    return v as number;
  }
  return dflt;
}

function posInt(v: number, key: string): number {
  if (v <= 0) throw new ConfigError('invalid', `${key} must be a positive integer, got ${v}`, key);
  return v;
}

function numOr(o: Json, k: string, dflt: number, at = ''): number {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new ConfigError('invalid', `${at}${k} must be a positive number, got ${JSON.stringify(v)}`, at + k);
  return v;
}

function boolOr(o: Json, k: string, dflt: boolean, at = ''): boolean {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new ConfigError('invalid', `${at}${k} must be true or false`, at + k);
  return v;
}
