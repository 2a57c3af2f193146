/**
 * A TinyLLaVA-Video of any size with random weights made on the GPU (no download): every tensor the
 * forward pass reads, LLM and connector Linear weights directly in the engine's 4-bit format, the
 * vision tower in the activation dtype, the vocabulary table 4-bit in row parts. For benchmarks of the full-size engine.
 */
import type { GpuContext } from '../../src/gpu/context';
import { fillRandom } from '../../src/gpu/kernels/fill';
import type { Q4Options } from '../../src/gpu/kernels/quant/format';
import { emptyQ4 } from '../../src/gpu/kernels/quant/quantize';
import { type ModelConfig, parseModelConfig } from '../../src/model/config';
import { fuseDecoderWeights } from '../../src/model/fuse-weights';
import { GpuWeights } from '../../src/model/gpu-weights';
import { ENGINE_Q4, isQuantizable, isVocabTable, tablePartRows } from '../../src/model/load';
import { sinusoidalPositions } from '../../src/model/positional';
import { expectedTensors, PREFIX } from '../../src/model/weight-manifest';

export interface Scale {
  visionLayers: number;
  textLayers: number;
  vocab: number;
}

/** The R1 checkpoint's config (MODEL.md), with layer counts and vocabulary optionally cut down. */
export function r1Config(scale: Partial<Scale> = {}): ModelConfig {
  return parseModelConfig({
    model_type: 'tinyllava',
    connector_type: 'groupresampler',
    group: 16,
    num_queries: 512,
    num_resampler_layers: 3,
    tokenizer_model_max_length: 3072,
    vision_feature_layer: -2,
    vision_feature_select_strategy: 'patch',
    vision_config: {
      model_type: 'siglip_vision_model',
      hidden_size: 1152,
      image_size: 384,
      intermediate_size: 4304,
      num_attention_heads: 16,
      num_hidden_layers: scale.visionLayers ?? 27,
      patch_size: 14,
      layer_norm_eps: 1e-6,
    },
    text_config: {
      model_type: 'qwen2',
      hidden_size: 2048,
      intermediate_size: 11008,
      num_attention_heads: 16,
      num_hidden_layers: scale.textLayers ?? 36,
      num_key_value_heads: 2,
      rope_theta: 1e6,
      rms_norm_eps: 1e-6,
      vocab_size: scale.vocab ?? 151936,
      tie_word_embeddings: true,
      max_position_embeddings: 32768,
    },
    pad_token_id: 151643,
    hidden_size: 2048,
    vision_hidden_size: 1152,
  });
}

export function randomWeights(ctx: GpuContext, cfg: ModelConfig, q4: Q4Options = ENGINE_Q4): GpuWeights {
  const w = new GpuWeights();
  const dt = ctx.actDtype;
  // Scales stay f16 where the fill kernel can write f16; f32 otherwise.
  const qopts: Q4Options = { ...q4, scaleDtype: ctx.summary.f16 ? 'f16' : 'f32' };
  let seed = 1;
  const randomQ4 = (N: number, K: number) => {
    const q = emptyQ4(ctx, N, K, qopts);
    fillRandom(ctx, q.packed, seed++);
    fillRandom(ctx, q.scales, seed++, 0.001, 0.003);
    if (q.mins) fillRandom(ctx, q.mins, seed++, -0.02, -0.01);
    return q;
  };
  const add = (name: string, shape: number[]) => {
    if (isVocabTable(name)) {
      // 4-bit row parts, as the loader stores them (each part of the f16 table fits one binding).
      const [V, C] = shape;
      const limit = ctx.summary.limits.maxStorageBufferBindingSize;
      const rows = tablePartRows(V, C, dt === 'f16' ? 2 : 4, limit);
      const parts = [];
      for (let r = 0; r < V; r += rows) parts.push(randomQ4(Math.min(rows, V - r), C));
      w.setTable(name, parts);
      return;
    }
    const isNorm = /norm|layernorm|ln_|\.0\.weight$/.test(name) && shape.length === 1;
    if (isQuantizable(name, shape) && !name.endsWith('to_kv.weight')) {
      w.setQuantized(name, randomQ4(shape[0], shape[1]));
      return;
    }
    const t = ctx.empty(shape, dt, name);
    fillRandom(ctx, t, seed++, isNorm ? 0.9 : -0.02, isNorm ? 1.1 : 0.02);
    w.set(name, t);
  };
  for (const t of expectedTensors(cfg)) {
    if (!t.used) continue;
    if (t.name.endsWith('to_kv.weight')) {
      // The loader splits to_kv into to_k / to_v; make those directly.
      const half = [t.shape[0] / 2, t.shape[1]];
      add(t.name.replace('to_kv', 'to_k'), half);
      add(t.name.replace('to_kv', 'to_v'), half);
      continue;
    }
    add(t.name, t.shape);
  }
  fuseDecoderWeights(ctx, w, cfg.text);
  const c = cfg.connector;
  w.set(
    `${PREFIX.connector}position_encoding`,
    ctx.upload(sinusoidalPositions(c.numQueries, c.dim), [c.numQueries, c.dim], dt),
  );
  return w;
}
