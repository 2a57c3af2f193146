import { describe, expect, it } from 'vitest';
import {
  GREEDY,
  MAX_TOP_K,
  penalize,
  R1_EVAL_SAMPLING,
  resolveSampling,
  SamplerRng,
  type SamplingOptions,
  sampleCpu,
  sampleRowsCpu,
} from './sampling';

const opts = (o: Partial<SamplingOptions>): SamplingOptions => ({ ...R1_EVAL_SAMPLING, ...o });
const logOf = (ps: number[]) => ps.map(Math.log);

describe('resolveSampling', () => {
  it('maps options to greedy / top-k / full', () => {
    expect(resolveSampling(GREEDY)).toMatchObject({ mode: 'greedy', k: 1 });
    expect(resolveSampling(opts({ temperature: 0.5 }))).toMatchObject({
      mode: 'topk',
      k: 50,
      invTemperature: 2,
    });
    expect(resolveSampling(opts({ topK: 0 }))).toMatchObject({ mode: 'full' });
    expect(resolveSampling(opts({ topK: 0, topP: 0.9 }))).toMatchObject({
      mode: 'topk',
      k: MAX_TOP_K,
      topP: 0.9,
    });
    expect(resolveSampling(opts({ topK: 5000 }))).toMatchObject({ k: MAX_TOP_K });
  });

  it('rejects bad options', () => {
    expect(() => resolveSampling(opts({ topP: 0 }))).toThrow(RangeError);
    expect(() => resolveSampling(opts({ topP: 1.5 }))).toThrow(RangeError);
    expect(() => resolveSampling(opts({ topK: -1 }))).toThrow(RangeError);
    expect(() => resolveSampling(opts({ topK: 2.5 }))).toThrow(RangeError);
    expect(() => resolveSampling(opts({ repetitionPenalty: 0 }))).toThrow(RangeError);
    expect(() => resolveSampling(opts({ temperature: Number.NaN }))).toThrow(RangeError);
    expect(() => resolveSampling(opts({ maxNewTokens: -1 }))).toThrow(RangeError);
  });
});

describe('SamplerRng', () => {
  it('is reproducible, resumable, and gives f32-exact uniforms in [0, 1)', () => {
    const a = new SamplerRng(42);
    const b = new SamplerRng(42);
    const xs = a.uniforms(1000);
    expect(b.uniforms(1000)).toEqual(xs);
    for (const x of xs) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      expect(Math.fround(x)).toBe(x);
    }
    const c = SamplerRng.fromState(a.state);
    expect(c.next()).toBe(a.next());
    expect(new SamplerRng(43).next()).not.toBe(new SamplerRng(42).next());
  });
});

describe('sampleCpu', () => {
  it('greedy is argmax with ties to the lowest id; top-k 1 draws among the ids tied at the max', () => {
    expect(sampleCpu([1, 3, 3, 2], GREEDY, null, 0.9)).toBe(1);
    expect(sampleCpu([5], GREEDY, null, 0)).toBe(0);
    const rng = new SamplerRng(1);
    for (let t = 0; t < 50; t++) {
      const row = Array.from({ length: 37 }, () => Math.round(rng.next() * 8));
      const g = sampleCpu(row, GREEDY, null, 0);
      const max = Math.max(...row);
      expect(row[g]).toBe(max);
      expect(row.indexOf(row[g])).toBe(g);
      // HF's top-k keeps every logit equal to the k-th largest: with k = 1, every maximum.
      const k1 = sampleCpu(row, opts({ topK: 1, temperature: 2 }), null, rng.next());
      expect(row[k1]).toBe(max);
      if (row.filter((v) => v === max).length === 1) expect(k1).toBe(g);
    }
    expect([0.1, 0.4, 0.7].map((u) => sampleCpu([1, 3, 3, 2, 3], opts({ topK: 1 }), null, u))).toEqual([
      1, 2, 4,
    ]);
  });

  it('top-k keeps every candidate tied with the k-th value (HF: removes only scores < the k-th)', () => {
    const row = [0, 2, 1, 1, 5, 1, -1];
    // Top 2 by value: 5 (id 4), 2 (id 1); top 3 ends at 1, tied at ids 2, 3, 5: five candidates.
    const drawn = (topK: number) => {
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) seen.add(sampleCpu(row, opts({ topK, temperature: 100 }), null, i / 200));
      return [...seen].sort();
    };
    expect(drawn(2)).toEqual([1, 4]);
    expect(drawn(3)).toEqual([1, 2, 3, 4, 5]);
    expect(drawn(5)).toEqual([1, 2, 3, 4, 5]);
    expect(drawn(6)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('applies the repetition penalty as HF: positive ÷ p, negative × p, each id once', () => {
    expect(penalize(2, 2)).toBe(1);
    expect(penalize(-1, 2)).toBe(-2);
    expect(penalize(0, 2)).toBe(0);
    const row = [2, -1, 0.5];
    expect(sampleCpu(row, { ...GREEDY, repetitionPenalty: 2 }, [0, 1, 1, 0], 0)).toBe(0); // 1 > 0.5
    expect(sampleCpu(row, { ...GREEDY, repetitionPenalty: 5 }, [0, 1, 1, 0], 0)).toBe(2); // 0.4 < 0.5
    expect(sampleCpu(row, { ...GREEDY, repetitionPenalty: 5 }, [0, 7, 0xffffffff], 0)).toBe(2); // ids ≥ V ignored
    // A negative logit gets less likely: p(1) falls when penalised.
    const probs = (prev: number[] | null) => {
      const n = [0, 0, 0];
      const rng = new SamplerRng(3);
      for (let i = 0; i < 3000; i++)
        n[sampleCpu([0, -0.2, 0.1], opts({ repetitionPenalty: 3 }), prev, rng.next())]++;
      return n.map((c) => c / 3000);
    };
    expect(probs([1])[1]).toBeLessThan(probs(null)[1] - 0.05); // 0.28 → 0.21
  });

  it('top-p keeps candidates while the mass before them is < topP', () => {
    const row = logOf([0.5, 0.25, 0.15, 0.1]);
    const top = (topP: number, u: number) => sampleCpu(row, opts({ topK: 4, topP }), null, u);
    expect(top(0.4, 0.999)).toBe(0); // only the first
    expect(top(0.5, 0.999)).toBe(0); // mass before #2 is 0.5, not < 0.5
    expect(top(0.7, 0.999)).toBe(1); // #2 kept (0.5 < 0.7), #3 not (0.75)
    expect(top(0.8, 0.999)).toBe(2);
    expect(top(1, 0.999)).toBe(3);
    // Draw by inverse CDF over the kept, renormalised: with 2 kept, u < 2/3 → first.
    expect(top(0.7, 0.66)).toBe(0);
    expect(top(0.7, 0.67)).toBe(1);
  });

  it('full mode draws in id order over the whole vocabulary', () => {
    const row = new Array(10).fill(0);
    for (let i = 0; i < 10; i++) expect(sampleCpu(row, opts({ topK: 0 }), null, i / 10 + 0.05)).toBe(i);
  });

  it('empirical frequencies match the softmax (top-k, full, temperature)', () => {
    const row = [1, 0.5, 0, -0.5, -3];
    const softmax = (xs: number[], t: number) => {
      const e = xs.map((x) => Math.exp(x / t));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z);
    };
    const N = 20000;
    const check = (o: SamplingOptions, want: number[]) => {
      const rng = new SamplerRng(7);
      const n = new Array(row.length).fill(0);
      for (let i = 0; i < N; i++) n[sampleCpu(row, o, null, rng.next())]++;
      for (let i = 0; i < n.length; i++) expect(Math.abs(n[i] / N - want[i])).toBeLessThan(0.015);
    };
    check(opts({ topK: 0 }), softmax(row, 1));
    check(opts({ topK: 0, temperature: 0.5 }), softmax(row, 0.5));
    const top3 = softmax(row.slice(0, 3), 1);
    check(opts({ topK: 3 }), [...top3, 0, 0]);
  });

  it('masked logits are never drawn; a fully masked row still yields an id', () => {
    const row = [Number.NEGATIVE_INFINITY, 1, Number.NEGATIVE_INFINITY, 1];
    for (const u of [0, 0.49, 0.5, 0.999]) {
      expect([1, 3]).toContain(sampleCpu(row, opts({}), null, u));
      expect([1, 3]).toContain(sampleCpu(row, opts({ topK: 0 }), null, u));
    }
    expect(sampleCpu([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY], GREEDY, null, 0)).toBe(0);
  });

  it('sampleRowsCpu samples each row with its own history and uniform', () => {
    const logits = [2, 5, 1, 9, 9, 0];
    expect(sampleRowsCpu(logits, 2, GREEDY, null, [0, 0])).toEqual([1, 0]);
    expect(sampleRowsCpu(logits, 2, { ...GREEDY, repetitionPenalty: 100 }, [1, 1, 0, 2], [0, 0])).toEqual([
      0, 1,
    ]);
    expect(sampleRowsCpu(logits, 2, opts({ topK: 0 }), null, [0, 0.999])).toEqual([0, 1]);
  });
});
