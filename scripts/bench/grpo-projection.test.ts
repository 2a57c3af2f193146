/** The projection's arithmetic against hand-computed numbers for the R1 shapes (MODEL.md). */
import { describe, expect, it } from 'vitest';
import {
  grpoMemory,
  grpoPhases,
  loraParameters,
  matmulFlops,
  PAPER_STEP,
  phaseSeconds,
  q4Bytes,
  sizes,
} from './grpo-projection';
import { r1Config } from './synthetic-model';

const cfg = r1Config();

describe('GRPO step projection', () => {
  it('counts a matmul as 2·M·N·K', () => {
    expect(matmulFlops(3, 5, 7)).toBe(210);
  });

  it('counts rank-8 LoRA on all seven projections of Qwen2.5-3B', () => {
    // A layer: q, o 8·(2048 + 2048); k, v 8·(256 + 2048); gate, up, down 8·(11008 + 2048).
    const perLayer = 2 * 8 * 4096 + 2 * 8 * 2304 + 3 * 8 * 13056;
    expect(perLayer).toBe(415_744);
    expect(loraParameters(cfg, 8, PAPER_STEP.targets)).toBe(36 * 415_744);
    expect(loraParameters(cfg, 8, ['q'])).toBe(36 * 8 * 4096);
  });

  it('sizes the decoder from the weight manifest', () => {
    const z = sizes(cfg, PAPER_STEP);
    // 36 layers of q, o [2048, 2048], k, v [256, 2048], gate, up [11008, 2048], down [2048, 11008].
    expect(z.llmLinear).toBe(36 * (2 * 2048 * 2048 + 2 * 256 * 2048 + 3 * 11008 * 2048));
    expect(z.table).toBe(151936 * 2048);
    expect(z.promptTokens).toBe(88 + 512);
    // 4-bit, groups of 32: half a byte a weight plus an f16 scale and min a group.
    expect(q4Bytes(2048, 2048)).toBe(2048 * 1024 + 2048 * 64 * 4);
  });

  it('takes the slower of compute and memory, plus launches, per repeat', () => {
    const gpu = {
      name: 'x',
      bandwidth: 1e9,
      flops: 1e12,
      bandwidthEfficiency: 0.5,
      computeEfficiency: 0.5,
      launch: 1e-3,
    };
    expect(phaseSeconds({ name: 'a', flops: 1e12, bytes: 1e8, launches: 10, repeat: 1 }, gpu)).toBeCloseTo(
      2.01,
    );
    expect(phaseSeconds({ name: 'b', flops: 1e6, bytes: 1e9, launches: 0, repeat: 3 }, gpu)).toBeCloseTo(6);
  });

  it('reads every 4-bit weight once a decode step, whatever G', () => {
    const z = sizes(cfg, PAPER_STEP);
    const decode = (G: number) =>
      grpoPhases(cfg, { ...PAPER_STEP, G }).find((p) => p.name.startsWith('decode'))!;
    const kv = (G: number) => G * (600 + 256) * 36 * 2 * 2 * 128 * 2;
    expect(decode(1).bytes).toBe(z.llmLinearQ4 + z.tableQ4 + kv(1));
    expect(decode(8).bytes).toBe(z.llmLinearQ4 + z.tableQ4 + kv(8));
    expect(decode(8).repeat).toBe(512);
    // The backward with recomputation costs about three forwards of the reference pass.
    const phases = grpoPhases(cfg, PAPER_STEP);
    const ref = phases.find((p) => p.name.startsWith('reference'))!;
    const bwd = phases.find((p) => p.name.startsWith('policy'))!;
    expect(bwd.flops / ref.flops).toBeGreaterThan(2.8);
    expect(bwd.flops / ref.flops).toBeLessThan(3.1);
  });

  it('projects the memory of a step from the same sizes', () => {
    const m = grpoMemory(cfg, PAPER_STEP);
    const get = (prefix: string) => m.find((x) => x.name.startsWith(prefix))!.bytes;
    expect(get('LoRA')).toBe(16 * 36 * 415_744); // f32 value, gradient and two Adam moments
    expect(get('KV cache')).toBe(8 * 1112 * 36 * 2 * 2 * 128 * 2);
    // The policy copies only q/k/v and gate/up, at 4-bit: less than the decoder's 4-bit Linear weights.
    const z = sizes(cfg, PAPER_STEP);
    expect(get("policy's 4-bit copies")).toBe(z.splitCopiesQ4);
    expect(z.splitCopiesQ4).toBeGreaterThan(0.5 * z.llmLinearQ4);
    expect(z.splitCopiesQ4).toBeLessThan(0.8 * z.llmLinearQ4);
  });
});
