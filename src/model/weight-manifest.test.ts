import { describe, expect, it } from 'vitest';
import { FIXTURES, hubConfig } from '../../scripts/fixtures/spec';
import { type ModelConfig, parseModelConfig } from './config';
import {
  assertWeights,
  checkWeights,
  expectedTensors,
  type FoundTensor,
  PREFIX,
  WeightManifestError,
} from './weight-manifest';

const tinyA = parseModelConfig(hubConfig(FIXTURES[0]));
const tinyB = parseModelConfig(hubConfig(FIXTURES[1]));

/** What a complete checkpoint for `cfg` holds: every tensor, used or not, minus buffers. */
function fullCheckpoint(cfg: ModelConfig): FoundTensor[] {
  return expectedTensors(cfg)
    .filter((e) => !/inv_freq|position_ids/.test(e.name))
    .map((e) => ({ name: e.name, dtype: 'BF16' as const, shape: e.shape }));
}

describe('weight manifest', () => {
  it('lists the hub names and shapes for the real R1 geometry', () => {
    const cfg = parseModelConfig({
      model_type: 'tinyllava',
      connector_type: 'groupresampler',
      group: 16,
      num_queries: 512,
      num_resampler_layers: 3,
      vision_model_name_or_path: 'google/siglip-so400m-patch14-384',
      text_config: {
        model_type: 'qwen2',
        hidden_size: 2048,
        num_hidden_layers: 36,
        num_attention_heads: 16,
        num_key_value_heads: 2,
        intermediate_size: 11008,
        vocab_size: 151936,
        tie_word_embeddings: true,
      },
    });
    const m = new Map(expectedTensors(cfg).map((e) => [e.name, e]));
    const shape = (n: string) => m.get(n)?.shape;
    expect(shape(`${PREFIX.text}model.embed_tokens.weight`)).toEqual([151936, 2048]);
    expect(shape(`${PREFIX.text}model.layers.35.self_attn.k_proj.weight`)).toEqual([256, 2048]);
    expect(shape(`${PREFIX.text}model.layers.0.self_attn.q_proj.bias`)).toEqual([2048]);
    expect(shape(`${PREFIX.text}model.layers.0.mlp.down_proj.weight`)).toEqual([2048, 11008]);
    expect(m.get(`${PREFIX.text}lm_head.weight`)?.used).toBe(false); // tied
    expect(shape(`${PREFIX.vision}embeddings.patch_embedding.weight`)).toEqual([1152, 3, 14, 14]);
    expect(shape(`${PREFIX.vision}embeddings.position_embedding.weight`)).toEqual([729, 1152]);
    expect(m.get(`${PREFIX.vision}encoder.layers.25.mlp.fc1.weight`)).toMatchObject({
      shape: [4304, 1152],
      used: true,
    });
    expect(m.get(`${PREFIX.vision}encoder.layers.26.mlp.fc1.weight`)?.used).toBe(false); // past hidden_states[-2]
    expect(m.get(`${PREFIX.vision}post_layernorm.weight`)?.used).toBe(false);
    expect(shape(`${PREFIX.connector}latents`)).toEqual([32, 2048]);
    expect(shape(`${PREFIX.connector}linear.weight`)).toEqual([2048, 1152]);
    expect(shape(`${PREFIX.connector}layers.2.0.to_kv.weight`)).toEqual([1024, 2048]);
    expect(shape(`${PREFIX.connector}layers.2.0.to_out.weight`)).toEqual([2048, 512]);
    expect(shape(`${PREFIX.connector}layers.2.1.1.weight`)).toEqual([8192, 2048]);
    expect(shape(`${PREFIX.connector}layers.2.1.3.weight`)).toEqual([2048, 8192]);
    const used = expectedTensors(cfg).filter((e) => e.used);
    // 36 × 12 + embed + norm; 26 × 16 + 3 embeddings; 3 + 3 × 11 + 2.
    expect(used.filter((e) => e.component === 'text').length).toBe(36 * 12 + 2);
    expect(used.filter((e) => e.component === 'vision').length).toBe(26 * 16 + 3);
    expect(used.filter((e) => e.component === 'connector').length).toBe(3 + 3 * 11 + 2);
    const params = used.reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
    expect(params / 1e9).toBeGreaterThan(3.5); // ~3.1B LLM + ~0.4B vision + ~0.1B connector
    expect(params / 1e9).toBeLessThan(4.0);
  });

  it('accepts a complete checkpoint and lists known unused tensors', () => {
    const r = assertWeights(tinyA, fullCheckpoint(tinyA));
    expect(r.ok).toBe(true);
    expect(r.unused).toContain(`${PREFIX.vision}encoder.layers.1.self_attn.q_proj.weight`);
    expect(r.unused).toContain(`${PREFIX.vision}head.probe`);
    expect(r.unused).toContain(`${PREFIX.text}lm_head.weight`); // present though tied
    expect(r.used.some((e) => e.name.endsWith('lm_head.weight'))).toBe(false);
    // Unused tensors may also be absent (a pruned self-hosted copy).
    const pruned = fullCheckpoint(tinyA).filter((t) => !r.unused.includes(t.name));
    expect(assertWeights(tinyA, pruned).unused).toEqual([]);
  });

  it('names missing, unknown, mis-shaped and wrong-dtype tensors in one error', () => {
    const found = fullCheckpoint(tinyB).filter((t) => !t.name.endsWith('lm_head.weight')); // untied: required
    const q = found.find((t) => t.name.endsWith('layers.1.self_attn.q_proj.weight'))!;
    q.shape = [64, 48];
    const lat = found.find((t) => t.name === `${PREFIX.connector}latents`)!;
    lat.dtype = 'I32';
    found.push({ name: `${PREFIX.connector}extra.weight`, dtype: 'BF16', shape: [1] });
    let err: WeightManifestError | undefined;
    try {
      assertWeights(tinyB, found, 'tiny-b');
    } catch (e) {
      err = e as WeightManifestError;
    }
    expect(err).toBeInstanceOf(WeightManifestError);
    const r = err!.report;
    expect(r.missing).toEqual([`${PREFIX.text}lm_head.weight`]);
    expect(r.unexpected).toEqual([`${PREFIX.connector}extra.weight`]);
    expect(r.misshaped).toEqual([{ name: q.name, expected: [64, 64], got: [64, 48] }]);
    expect(r.wrongDtype).toEqual([{ name: lat.name, dtype: 'I32' }]);
    for (const s of [
      'missing 1',
      'lm_head.weight',
      'unknown 1',
      'extra.weight',
      'is [64, 48], expected [64, 64]',
      'latents is I32',
    ])
      expect(err!.message).toContain(s);
    expect(err!.message).toMatch(/^tiny-b does not match its config\.json/);
  });

  it('checks each problem kind on its own, and caps long lists', () => {
    const base = fullCheckpoint(tinyA);
    expect(checkWeights(tinyA, base.slice(1)).missing).toEqual([base[0].name]);
    const f16 = base.map((t) => ({ ...t, dtype: 'F16' as const }));
    expect(checkWeights(tinyA, f16).ok).toBe(true);
    expect(checkWeights(tinyA, f16, ['BF16']).wrongDtype.length).toBe(checkWeights(tinyA, f16).used.length);
    const noText = base.filter((t) => !t.name.startsWith(PREFIX.text));
    let msg = '';
    try {
      assertWeights(tinyA, noText);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/missing 26: .* and 18 more/);
  });
});
