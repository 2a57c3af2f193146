import { describe, expect, it } from 'vitest';
import { FIXTURES, hubConfig } from '../../scripts/fixtures/spec';
import { ConfigError, parseGenerationConfig, parseModelConfig } from './config';

/** The R1 checkpoint's config.json as TinyLlavaConfig.to_dict writes it (values per MODEL.md). */
const R1_CONFIG = {
  architectures: ['TinyLlavaForConditionalGeneration'],
  cache_dir: null,
  connector_type: 'groupresampler',
  group: 16,
  hidden_size: 2048,
  ignore_index: -100,
  image_aspect_ratio: 'square',
  image_token_index: -200,
  llm_model_name_or_path: 'Qwen/Qwen2.5-3B',
  model_type: 'tinyllava',
  num_queries: 512,
  num_resampler_layers: 3,
  pad_token: '<|endoftext|>',
  pad_token_id: 151643,
  resampler_hidden_size: 768,
  text_config: {
    _name_or_path: 'Qwen/Qwen2.5-3B',
    architectures: ['Qwen2ForCausalLM'],
    bos_token_id: 151643,
    eos_token_id: 151643,
    hidden_size: 2048,
    intermediate_size: 11008,
    max_position_embeddings: 32768,
    max_window_layers: 36,
    model_type: 'qwen2',
    num_attention_heads: 16,
    num_hidden_layers: 36,
    num_key_value_heads: 2,
    rope_theta: 1000000.0,
    sliding_window: 32768,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    use_sliding_window: false,
    vocab_size: 151936,
  },
  tokenizer_model_max_length: 3072,
  tokenizer_name_or_path: 'Qwen/Qwen2.5-3B',
  tokenizer_padding_side: 'right',
  tokenizer_use_fast: false,
  torch_dtype: 'bfloat16',
  vision_config: {
    hidden_act: 'gelu_pytorch_tanh',
    hidden_size: 1152,
    image_size: 384,
    intermediate_size: 4304,
    layer_norm_eps: 1e-6,
    model_name_or_path: 'google/siglip-so400m-patch14-384',
    model_type: 'siglip_vision_model',
    num_attention_heads: 16,
    num_hidden_layers: 27,
    patch_size: 14,
  },
  vision_feature_layer: -2,
  vision_feature_select_strategy: 'patch',
  vision_hidden_size: 1152,
  vision_model_name_or_path: 'google/siglip-so400m-patch14-384',
  vocab_size: 151936,
};

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

function expectConfigError(input: unknown, code: string, key?: string, text?: RegExp): void {
  try {
    parseModelConfig(input as Record<string, unknown>);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe(code);
    if (key) expect((e as ConfigError).key).toBe(key);
    if (text) expect((e as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected a ConfigError');
}

describe('parseModelConfig', () => {
  it('reads the R1 config into every dimension the model needs', () => {
    const c = parseModelConfig(JSON.stringify(R1_CONFIG));
    expect(c.vision).toEqual({
      imageSize: 384,
      patchSize: 14,
      gridSize: 27,
      numPatches: 729,
      channels: 3,
      hidden: 1152,
      layers: 27,
      heads: 16,
      headDim: 72,
      mlp: 4304,
      eps: 1e-6,
      hiddenAct: 'gelu_pytorch_tanh',
      featureLayer: -2,
      runLayers: 26,
      selectStrategy: 'patch',
      tokensPerFrame: 728,
      imageMean: [0.5, 0.5, 0.5],
      imageStd: [0.5, 0.5, 0.5],
    });
    expect(c.connector).toEqual({
      type: 'groupresampler',
      inputDim: 1152,
      dim: 2048,
      group: 16,
      numQueries: 512,
      latentsPerGroup: 32,
      layers: 3,
      heads: 8,
      dimHead: 64,
      innerDim: 512,
      ffDim: 8192,
      eps: 1e-5,
      peBase: 10000,
    });
    expect(c.text).toEqual({
      hidden: 2048,
      layers: 36,
      heads: 16,
      kvHeads: 2,
      headDim: 128,
      mlp: 11008,
      vocab: 151936,
      ropeTheta: 1e6,
      eps: 1e-6,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 32768,
      hiddenAct: 'silu',
    });
    expect(c.maxLength).toBe(3072);
    expect(c.tokenizerName).toBe('Qwen/Qwen2.5-3B');
    expect(c.visionName).toBe('google/siglip-so400m-patch14-384');
    expect([c.bosTokenId, c.eosTokenId, c.padTokenId]).toEqual([151643, 151643, 151643]);
  });

  it('fills keys a diff-style config leaves out: SigLIP so400m values, Qwen2 defaults', () => {
    const raw = clone(R1_CONFIG) as Record<string, unknown>;
    delete raw.vision_config;
    delete raw.vision_feature_layer;
    delete raw.vision_feature_select_strategy;
    raw.vision_model_name_or_path = 'siglip:google/siglip-so400m-patch14-384';
    const t = raw.text_config as Record<string, unknown>;
    delete t.rms_norm_eps;
    delete t.max_position_embeddings;
    const c = parseModelConfig(raw);
    expect(c.vision.hidden).toBe(1152);
    expect(c.vision.layers).toBe(27);
    expect(c.vision.runLayers).toBe(26);
    expect(c.vision.tokensPerFrame).toBe(728);
    expect(c.visionName).toBe('google/siglip-so400m-patch14-384');
    expect(c.text.eps).toBe(1e-6);
    expect(c.text.maxPositionEmbeddings).toBe(32768);
  });

  it('accepts the training-argument spellings of the feature layer and strategy', () => {
    const raw = clone(R1_CONFIG) as Record<string, unknown>;
    delete raw.vision_feature_layer;
    delete raw.vision_feature_select_strategy;
    raw.mm_vision_select_layer = -1;
    raw.mm_vision_select_feature = 'cls_patch';
    const c = parseModelConfig(raw);
    expect(c.vision.runLayers).toBe(27);
    expect(c.vision.tokensPerFrame).toBe(729);
  });

  it('maps feature layers onto hidden_states (N + 1 entries)', () => {
    const at = (fl: number) => {
      const raw = clone(R1_CONFIG) as Record<string, unknown>;
      raw.vision_feature_layer = fl;
      return parseModelConfig(raw).vision.runLayers;
    };
    expect(at(-1)).toBe(27);
    expect(at(-28)).toBe(0);
    expect(at(5)).toBe(5);
    expectConfigError({ ...clone(R1_CONFIG), vision_feature_layer: -29 }, 'invalid', 'vision_feature_layer');
    expectConfigError({ ...clone(R1_CONFIG), vision_feature_layer: 28 }, 'invalid', 'vision_feature_layer');
  });

  it('reads image_mean / image_std from vision_config or the top level, else SigLIP 0.5 / 0.5', () => {
    const clip = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };
    const nested = clone(R1_CONFIG) as Record<string, unknown> & { vision_config: Record<string, unknown> };
    nested.vision_config.image_mean = clip.mean;
    nested.vision_config.image_std = clip.std;
    nested.image_mean = [0, 0, 0]; // vision_config wins
    expect(parseModelConfig(nested).vision).toMatchObject({ imageMean: clip.mean, imageStd: clip.std });
    const top = { ...clone(R1_CONFIG), image_mean: clip.mean, image_std: 0.25 };
    expect(parseModelConfig(top).vision).toMatchObject({
      imageMean: clip.mean,
      imageStd: [0.25, 0.25, 0.25],
    });
    const none = clone(R1_CONFIG) as Record<string, unknown>;
    delete none.vision_config;
    expect(parseModelConfig(none).vision).toMatchObject({
      imageMean: [0.5, 0.5, 0.5],
      imageStd: [0.5, 0.5, 0.5],
    });
    expectConfigError({ ...clone(R1_CONFIG), image_std: [0.5, 0, 0.5] }, 'invalid', 'image_std', /positive/);
    expectConfigError({ ...clone(R1_CONFIG), image_mean: [0.5, 0.5] }, 'invalid', 'image_mean');
    const badNested = clone(R1_CONFIG) as { vision_config: Record<string, unknown> };
    badNested.vision_config.image_mean = 'imagenet';
    expectConfigError(badNested, 'invalid', 'vision_config.image_mean');
  });

  it('rejects an unknown model_type with a typed error', () => {
    expectConfigError(
      { ...clone(R1_CONFIG), model_type: 'llava' },
      'unknown-model-type',
      'model_type',
      /"llava"/,
    );
    expectConfigError({ ...clone(R1_CONFIG), model_type: undefined }, 'unknown-model-type');
  });

  it('rejects an unknown connector_type with a typed error', () => {
    expectConfigError(
      { ...clone(R1_CONFIG), connector_type: 'mlp2x_gelu' },
      'unknown-connector',
      'connector_type',
      /mlp2x_gelu/,
    );
  });

  it('names the key of a missing or inconsistent value', () => {
    const noGroup = clone(R1_CONFIG) as Record<string, unknown>;
    delete noGroup.group;
    expectConfigError(noGroup, 'invalid', 'group');
    expectConfigError({ ...clone(R1_CONFIG), num_queries: 500 }, 'invalid', 'num_queries');
    expectConfigError({ ...clone(R1_CONFIG), hidden_size: 2560 }, 'invalid', 'hidden_size');
    expectConfigError({ ...clone(R1_CONFIG), vision_hidden_size: 1024 }, 'invalid', 'vision_hidden_size');
    const badKv = clone(R1_CONFIG);
    badKv.text_config.num_key_value_heads = 3;
    expectConfigError(badKv, 'invalid', 'text_config.num_key_value_heads');
    const noHidden = clone(R1_CONFIG) as { text_config: Record<string, unknown> };
    delete noHidden.text_config.hidden_size;
    expectConfigError(noHidden, 'invalid', 'text_config.hidden_size');
    expectConfigError({ ...clone(R1_CONFIG), text_config: undefined }, 'invalid', 'text_config');
    // Found by the config fuzz: 1e308 passes Number.isInteger; nested keys are named with their parent;
    // one patch per frame leaves the "patch" strategy no tokens.
    expectConfigError({ ...clone(R1_CONFIG), num_queries: 1e308 }, 'invalid', 'num_queries');
    const badEps = clone(R1_CONFIG) as { text_config: Record<string, unknown> };
    badEps.text_config.rms_norm_eps = -1;
    expectConfigError(badEps, 'invalid', 'text_config.rms_norm_eps', /text_config\.rms_norm_eps/);
    const onePatch = clone(R1_CONFIG);
    onePatch.vision_config.patch_size = 200;
    expectConfigError(onePatch, 'invalid', 'vision_config.patch_size', /no visual tokens/);
    // Long run (FUZZ_RUNS=2000): a safe-integer image size whose patch count (a square) is not.
    const hugeImage = clone(R1_CONFIG);
    hugeImage.vision_config.image_size = Number.MAX_SAFE_INTEGER;
    expectConfigError(hugeImage, 'invalid', 'vision_config.image_size', /too many to count/);
  });

  it('rejects other architectures and bad JSON', () => {
    const llama = clone(R1_CONFIG);
    llama.text_config.model_type = 'llama';
    expectConfigError(llama, 'unsupported', 'text_config.model_type');
    const clip = clone(R1_CONFIG);
    clip.vision_config.model_type = 'clip_vision_model';
    clip.vision_model_name_or_path = 'openai/clip-vit-large-patch14-336';
    expectConfigError(clip, 'unsupported');
    expect(() => parseModelConfig('{not json')).toThrow(ConfigError);
    expect(() => parseModelConfig('[1]')).toThrow(/object/);
  });

  it('parses every fixture config (the hub layout the fixtures write)', () => {
    for (const f of FIXTURES) {
      const c = parseModelConfig(hubConfig(f));
      expect(c.vision.hidden).toBe(f.vision.hidden);
      expect(c.vision.runLayers).toBe(f.vision.layers - 1);
      expect(c.connector.latentsPerGroup * c.connector.group).toBe(f.connector.numQueries);
      expect(c.text.headDim * c.text.heads).toBe(f.text.hidden);
      expect(c.text.tieWordEmbeddings).toBe(f.text.tied);
    }
  });
});

describe('parseGenerationConfig', () => {
  it('reads bos/eos (single or list) and sampling keys when present', () => {
    expect(parseGenerationConfig('{"bos_token_id":151643,"eos_token_id":151643}')).toMatchObject({
      bosTokenId: 151643,
      eosTokenIds: [151643],
      temperature: undefined,
      doSample: undefined,
    });
    const g = parseGenerationConfig({
      eos_token_id: [151645, 151643],
      do_sample: true,
      temperature: 0.7,
      top_p: 0.8,
    });
    expect(g.eosTokenIds).toEqual([151645, 151643]);
    expect([g.doSample, g.temperature, g.topP]).toEqual([true, 0.7, 0.8]);
  });
});
