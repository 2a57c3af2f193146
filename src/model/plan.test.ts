/**
 * The load plan against limits and a memory budget, as data: the real model's shapes on a 128 MiB
 * binding (the vocabulary table split, nothing else), a binding too small for a weight (refused by
 * name), and budgets that shorten the context, then the vision passes, then refuse with the numbers.
 */
import { describe, expect, it } from 'vitest';
import { r1Config } from '../../scripts/bench/synthetic-model';
import { ENGINE_Q4 } from './load';
import { minContext, planModel } from './plan';
import { expectedTensors } from './weight-manifest';

const cfg = r1Config();
const tensors = expectedTensors(cfg).filter((t) => t.used);
const MiB = 2 ** 20;
const base = {
  config: cfg,
  tensors,
  dtype: 'f16' as const,
  quantize: ENGINE_Q4,
  quantizeTables: true,
  limits: { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB },
};

describe('load plan', () => {
  it('the real model on WebGPU defaults: the vocabulary table in parts, everything else whole', () => {
    const p = planModel(base);
    // 151936 × 2048 goes up as f32 rows before quantizing: 16384 rows per 128 MiB part.
    expect(p.tables).toEqual([{ name: 'language_model.model.embed_tokens.weight', rows: 16384, parts: 10 }]);
    expect(p.maxLength).toBe(cfg.maxLength);
    // A prefill of 3072 positions would need [3072, 2 × 11008] f16 = 135 MB in one buffer.
    expect(p.maxPrompt).toBe(3048);
    expect(p.notes).toEqual([
      'Prompts are cut at 3048 tokens: a longer prefill needs buffers over the 128 MiB binding limit.',
    ]);
    console.log(
      `R1 plan (f16, q4): weights ${(p.bytes.weights / 1e9).toFixed(2)} GB, KV ${(p.bytes.kvCache / 1e9).toFixed(3)} GB, ` +
        `prefill ${(p.bytes.activations / 1e9).toFixed(3)} GB, vision ${(p.bytes.vision / 1e9).toFixed(3)} GB, total ${(p.bytes.total / 1e9).toFixed(2)} GB`,
    );
    expect(p.bytes.weights).toBeGreaterThan(2.5e9);
    expect(p.bytes.total).toBeLessThan(4e9);
    // A converted folder's table goes up packed (4 bytes per 8 values): fewer parts.
    expect(planModel({ ...base, converted: true }).tables[0].parts).toBe(2);
    // maxBufferSize holds too: the smaller of the two limits counts (a converted folder: bf16 weights
    // quantized at load go up as f32 first, and gate_proj's 86 MiB would not fit 64).
    const limits = { maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 64 * MiB };
    const small = planModel({ ...base, converted: true, limits });
    expect(small.binding).toBe(64 * MiB);
    expect(small.tables[0].parts).toBe(3);
    expect(() => planModel({ ...base, limits })).toThrow(/mlp\.gate_proj\.weight needs 86 MiB/);
  });

  it('refuses a weight over the binding limit by name and numbers', () => {
    const limits = { maxStorageBufferBindingSize: 8 * MiB, maxBufferSize: 8 * MiB };
    expect(() => planModel({ ...base, limits })).toThrow(
      /language_model\.model\.layers\.0\.self_attn\.q_proj\.weight needs 16 MiB in one GPU binding; this GPU allows 8 MiB/,
    );
  });

  it('shortens the context, then the vision passes, to fit a budget; else refuses with the numbers', () => {
    const full = planModel(base);
    const tight = planModel({ ...base, memoryBudget: full.bytes.total - 1 });
    expect(tight.maxLength).toBeLessThan(cfg.maxLength);
    expect(tight.bytes.total).toBeLessThanOrEqual(full.bytes.total - 1);
    expect(tight.notes.join(' ')).toMatch(/Context shortened to \d+ tokens \(from 3072\) to fit/);
    // Below what the shortest context needs with 4 frames per vision pass: fewer frames per pass.
    const shortest = { ...base, config: { ...cfg, maxLength: minContext(cfg) } };
    const four = planModel(shortest).bytes.total;
    const two = planModel({ ...shortest, framesPerPass: 2 }).bytes.total;
    expect(two).toBeLessThan(four);
    const visionCut = planModel({ ...base, memoryBudget: (two + four) / 2 });
    expect(visionCut.maxLength).toBe(minContext(cfg));
    expect(visionCut.framesPerPass).toBeLessThan(4);
    expect(visionCut.notes.join(' ')).toMatch(/frame\(s\) per vision pass \(from 4\)/);
    expect(() => planModel({ ...base, memoryBudget: 2e9 })).toThrow(
      /needs about \d+\.\d\d GB of GPU memory \(weights 2\.\d\d GB, KV cache .*\) even with a 768-token context and 1 frame per pass; 2\.00 GB is available/,
    );
  });
});
