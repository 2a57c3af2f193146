import { describe, expect, it } from 'vitest';
import { compare, mcnemarExactP, parseResults } from './eval-compare';

describe('mcnemarExactP', () => {
  it('is the doubled binomial tail of the discordant items', () => {
    expect(mcnemarExactP(1, 9)).toBeCloseTo((2 * (1 + 10)) / 1024, 12);
    expect(mcnemarExactP(9, 1)).toBeCloseTo((2 * (1 + 10)) / 1024, 12);
    expect(mcnemarExactP(0, 5)).toBeCloseTo(2 / 32, 12);
    expect(mcnemarExactP(4, 4)).toBe(1);
    expect(mcnemarExactP(0, 0)).toBe(1);
  });

  it('stays finite on thousands of items', () => {
    const p = mcnemarExactP(900, 1100);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1e-4);
  });
});

describe('compare', () => {
  const lines = (accs: number[]) =>
    accs.map((a, i) => JSON.stringify({ problem_id: i, accuracy: a })).join('\n');

  it('pairs by problem_id and counts the items right in one only', () => {
    const a = parseResults(lines([1, 1, 0, 0, 1]), 'a');
    const b = parseResults(lines([1, 0, 1, 1]), 'b'); // item 4 is unpaired
    expect(compare('all', a, b, a.keys())).toEqual({
      group: 'all',
      n: 4,
      a: 0.5,
      b: 0.75,
      only_a: 1,
      only_b: 2,
      p: 1,
    });
    expect(compare('some', a, b, ['2', '3'])).toMatchObject({ n: 2, a: 0, b: 1, only_b: 2, p: 0.5 });
  });

  it('names the bad line', () => {
    expect(() =>
      parseResults('{"problem_id":1,"accuracy":1}\n{"problem_id":1,"accuracy":0}', 'r.jsonl'),
    ).toThrow('r.jsonl:2: problem_id 1 repeats');
    expect(() => parseResults('{"accuracy":1}', 'r.jsonl')).toThrow('r.jsonl:1: missing "problem_id"');
  });
});
