import { describe, expect, it } from 'vitest';
import { advantages, sftLoss, tokenLoss, tokenWeights } from './grpo-loss';
import { totalReward } from './rewards';

describe('advantages', () => {
  it('normalise each group by its unbiased std + 1e-4', () => {
    const a = advantages([1, 2, 3, 10, 10, 10], 3, 'group');
    expect(a[0]).toBeCloseTo(-1 / (1 + 1e-4), 6); // mean 2, unbiased std 1
    expect(a[2]).toBeCloseTo(1 / (1 + 1e-4), 6);
    expect(a.slice(3)).toEqual([0, 0, 0]); // a group that agrees teaches nothing
  });
  it("'batch' divides by the batch's std, 'none' only centres, noise perturbs", () => {
    const r = [1, 2, 3, 10, 10, 10];
    const m = r.reduce((s, x) => s + x, 0) / 6;
    const sd = Math.sqrt(r.reduce((s, x) => s + (x - m) ** 2, 0) / 5);
    expect(advantages(r, 3, 'batch')[0]).toBeCloseTo(-1 / (sd + 1e-4), 6);
    expect(advantages(r, 3, 'none')).toEqual([-1, 0, 1, 0, 0, 0]);
    const noisy = advantages(r, 3, 'none', 0.02, () => 0.3);
    expect(noisy[1]).not.toBe(0);
    expect(Math.abs(noisy[1])).toBeLessThan(0.1);
  });
  it("'group' scales a group that differs only in think length to full-size advantages; 'batch' does not", () => {
    // Two groups of the paper's rewards on short thinks (format 0.5 + 0.5·chars/1200): one all right,
    // its thinks 96–104 characters long, one half right. Group scaling gives the length term of the
    // first group advantages as large as right against wrong in the second; batch scaling keeps them small.
    const fmt = (chars: number) => 0.5 + (0.5 * chars) / 1200;
    const right = (chars: number) => totalReward(1, fmt(chars));
    const wrong = (chars: number) => totalReward(0, fmt(chars));
    const r = [right(96), right(100), right(104), right(100), right(100), wrong(100), right(100), wrong(100)];
    const group = advantages(r, 4, 'group');
    const batch = advantages(r, 4, 'batch');
    expect(Math.abs(group[0])).toBeGreaterThan(0.9 * Math.abs(group[4]));
    expect(Math.abs(batch[0])).toBeLessThan(0.01 * Math.abs(batch[4]));
  });
  it('rejects rewards that are not whole groups', () => {
    expect(() => advantages([1, 2, 3], 2, 'group')).toThrow(/groups of 2/);
  });
});

describe('token weights', () => {
  const c = { max_completion_length: 10 };
  it('grpo: per-sequence mean then batch mean; bnpo/dapo: all tokens alike; dr_grpo: fixed length', () => {
    expect(tokenWeights([2, 4], { ...c, loss_type: 'grpo' })).toEqual([1 / 4, 1 / 8]);
    expect(tokenWeights([2, 4], { ...c, loss_type: 'bnpo' })).toEqual([1 / 6, 1 / 6]);
    expect(tokenWeights([2, 4], { ...c, loss_type: 'dapo' })).toEqual([1 / 6, 1 / 6]);
    expect(tokenWeights([2, 4, 0], { ...c, loss_type: 'dr_grpo' })).toEqual([1 / 30, 1 / 30, 0]);
  });
});

describe('token loss', () => {
  const cfg = { beta: 0.04, epsilon: 0.2 };
  const lp = Float32Array.of(-1.2, -0.3, -2.5);
  const ref = Float32Array.of(-1.0, -0.6, -2.5);

  it('one iteration: loss −A + β·k3 per token, weighted; gradient matches central differences', () => {
    const A = 0.7;
    const w = 0.25;
    const l = tokenLoss(lp, null, ref, A, w, cfg);
    const k3 = (d: number) => Math.exp(d) - d - 1;
    const want = [0, 1, 2].reduce((s, t) => s + w * (-A + cfg.beta * k3(ref[t] - lp[t])), 0);
    expect(l.loss).toBeCloseTo(want, 6);
    expect(l.kl).toBeCloseTo((k3(0.2) + k3(-0.3) + 0) / 3, 6);
    // With the ratio computed against a frozen copy of lp (old = lp at rollout), d/dlp of ρ·A is A.
    const old = Float32Array.from(lp);
    const h = 1e-3;
    for (let t = 0; t < 3; t++) {
      const up = Float32Array.from(lp);
      const down = Float32Array.from(lp);
      up[t] += h;
      down[t] -= h;
      const num =
        (tokenLoss(up, old, ref, A, w, cfg).loss - tokenLoss(down, old, ref, A, w, cfg).loss) /
        (up[t] - down[t]);
      expect(l.grad[t]).toBeCloseTo(num, 4);
    }
  });

  it('clips the ratio: no gradient through a clipped token, none clipped inside the range', () => {
    const old = Float32Array.of(-1.2 - 0.5, -0.3, -2.5); // token 0: ratio e^0.5 > 1.2
    const pos = tokenLoss(lp, old, null, 1, 1, cfg);
    expect(pos.clipped).toBe(1);
    expect(pos.grad[0]).toBe(0);
    expect(pos.grad[1]).toBeCloseTo(-1, 6);
    // With a negative advantage the unclipped term is the smaller one: it keeps its gradient.
    const neg = tokenLoss(lp, old, null, -1, 1, cfg);
    expect(neg.clipped).toBe(0);
    expect(neg.grad[0]).toBeCloseTo(Math.exp(0.5), 5);
    // epsilon_high widens the upper bound (DAPO's clip-higher).
    expect(tokenLoss(lp, old, null, 1, 1, { ...cfg, epsilon_high: 1 }).clipped).toBe(0);
  });

  it('SFT: −w·Σ lp with gradient −w', () => {
    const s = sftLoss(lp, 0.5);
    expect(s.loss).toBeCloseTo(0.5 * 4, 6);
    expect([...s.grad]).toEqual([-0.5, -0.5, -0.5]);
  });
});
