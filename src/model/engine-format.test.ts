import { describe, expect, it } from 'vitest';
import { r1Config } from '../../scripts/bench/synthetic-model';
import {
  convertedTensors,
  ENGINE_FORMAT,
  parseManifest,
  planTensors,
  shardName,
  shardPlan,
} from './engine-format';
import { ENGINE_Q4 } from './load';
import type { TensorEntry } from './safetensors';
import { expectedTensors } from './weight-manifest';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe('engine format', () => {
  it('stores the real model in ≤ 0.4× its bf16 bytes (computed from its shapes)', () => {
    const all = expectedTensors(r1Config());
    const used = all.filter((t) => t.used);
    const plan = planTensors(used, ENGINE_Q4);
    const bytes = plan.reduce((n, t) => n + t.bytes, 0);
    const bf16Used = used.reduce((n, t) => n + 2 * numel(t.shape), 0);
    // The hub checkpoint also holds SigLIP's last layer and head (unused): ~7.6 GB in all.
    const bf16All = all
      .filter((t) => !t.name.endsWith('inv_freq') && !t.name.endsWith('lm_head.weight'))
      .reduce((n, t) => n + 2 * numel(t.shape), 0);
    const byPart = (pred: (name: string) => boolean) =>
      plan.filter((t) => pred(t.source)).reduce((n, t) => n + t.bytes, 0);
    console.log(
      `R1 converted: ${(bytes / 1e9).toFixed(3)} GB (4-bit ${(plan.filter((t) => t.part).reduce((n, t) => n + t.bytes, 0) / 1e9).toFixed(3)} GB, vision f16 ${(byPart((n) => n.startsWith('vision_tower')) / 1e9).toFixed(3)} GB); ` +
        `bf16 used ${(bf16Used / 1e9).toFixed(3)} GB → ${(bytes / bf16Used).toFixed(3)}×; bf16 checkpoint ${(bf16All / 1e9).toFixed(3)} GB → ${(bytes / bf16All).toFixed(3)}×`,
    );
    expect(bytes / bf16Used).toBeLessThanOrEqual(0.4);
    // The table is 4-bit: 151936 × 2048 → packed 155.6 MB + scales and mins 38.9 MB.
    const table = plan.filter((t) => t.source.endsWith('embed_tokens.weight'));
    expect(table.map((t) => [t.part, t.dtype, t.shape])).toEqual([
      ['packed', 'U32', [151936, 256]],
      ['scales', 'F16', [151936, 64]],
      ['mins', 'F16', [151936, 64]],
    ]);
    expect(plan.find((t) => t.source.endsWith('layers.0.input_layernorm.weight'))?.dtype).toBe('F32');
    expect(plan.find((t) => t.source.includes('encoder.layers.0.mlp.fc1.weight'))?.dtype).toBe('F16');
  });

  it('shards by size without splitting a tensor, named as the hub names them', () => {
    const t = (bytes: number) => ({
      name: `t${bytes}`,
      dtype: 'U8' as const,
      shape: [bytes],
      bytes,
      source: '',
    });
    const shards = shardPlan([t(5), t(4), t(3), t(9), t(1)], 9);
    expect(shards.map((s) => s.map((x) => x.bytes))).toEqual([[5, 4], [3], [9], [1]]);
    expect(shardName(0, 3)).toBe('model-00001-of-00003.safetensors');
  });

  it('refuses a manifest of another format or version, or a bad file entry', () => {
    const good = {
      format: ENGINE_FORMAT,
      version: 1,
      model: { source: 'x' },
      created: '',
      quantization: { scheme: 'asym', groupSize: 32, scaleDtype: 'f16', input: 'f32', tables: true },
      sourceWeightBytes: 1,
      files: { 'a.safetensors': { size: 3, sha256: 'a'.repeat(64) } },
    };
    expect(parseManifest(good, 'here').version).toBe(1);
    expect(() => parseManifest({ ...good, version: 7 }, 'here')).toThrow(
      /engine-manifest.json in here: format version 7; this engine reads version 1/,
    );
    expect(() => parseManifest({ ...good, format: 'gguf' }, 'here')).toThrow(/format is "gguf"/);
    expect(() =>
      parseManifest({ ...good, files: { '../x': { size: 1, sha256: 'a'.repeat(64) } } }, 'here'),
    ).toThrow(/bad entry for \.\.\/x/);
  });

  it('reads 4-bit triples back as their weights and names a part of the wrong shape', () => {
    const e = (name: string, dtype: TensorEntry['dtype'], shape: number[]): TensorEntry => ({
      name,
      dtype,
      shape,
      file: 'm.safetensors',
      start: 0,
      end: 0,
    });
    const w = 'language_model.model.layers.0.mlp.down_proj.weight';
    const expected = new Map([[w, [64, 100]]]);
    const { found, q4 } = convertedTensors(
      [
        e(`${w}.q4_packed`, 'U32', [64, 16]),
        e(`${w}.q4_scales`, 'F16', [64, 4]),
        e(`${w}.q4_mins`, 'F16', [64, 4]),
        e('b', 'F32', [3]),
      ],
      expected,
      ENGINE_Q4,
    );
    expect(found.map((f) => [f.name, f.shape])).toEqual([
      ['b', [3]],
      [w, [64, 100]],
    ]);
    expect(q4.get(w)?.mins?.shape).toEqual([64, 4]);
    expect(() =>
      convertedTensors(
        [
          e(`${w}.q4_packed`, 'U32', [64, 16]),
          e(`${w}.q4_scales`, 'F16', [64, 5]),
          e(`${w}.q4_mins`, 'F16', [64, 4]),
        ],
        expected,
        ENGINE_Q4,
      ),
    ).toThrow(`${w}.q4_scales in m.safetensors is F16 [64, 5], expected F16 [64, 4] for asym groups of 32`);
  });
});
