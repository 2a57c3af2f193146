/** The connector's position head (rl:demo --positions-steps): its targets and its gradients. */
import { describe, expect, it } from 'vitest';
import { type SquaresClip, seededRandom } from '../../src/rl-lite/tasks/moving-squares';
import { POSITION_OUTPUTS, PositionHead, positionTargets } from './connector-positions';

const clip: SquaresClip = {
  squares: [
    { colour: 'green', direction: 'right', x0: 0, y0: 56 },
    { colour: 'yellow', direction: 'up', x0: 112, y0: 112 },
  ],
  asked: 0,
};

describe('position targets', () => {
  it('give each present colour its centre in [-1, 1] and mask absent colours but their presence', () => {
    const { y, mask } = positionTargets(clip, 0);
    // red absent, green at the left edge and mid height, blue absent, yellow bottom right
    expect([...y]).toEqual([0, 0, 0, 1, -1, 0, 0, 0, 0, 1, 1, 1]);
    expect([...mask]).toEqual([1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1]);
    const later = positionTargets(clip, 14).y; // 42 px on: green right, yellow up
    expect(later[4]).toBeCloseTo(-1 + 42 / 56, 6);
    expect(later[11]).toBeCloseTo(1 - 42 / 56, 6);
  });
});

describe('PositionHead', () => {
  // An odd width (not a multiple of anything) and three latents.
  const D = 7;
  const times = [0, 9, 23];
  const visual = Float32Array.from({ length: times.length * D }, (_, i) => Math.sin(i * 1.7));

  function lossOf(head: PositionHead, v: Float32Array): number {
    const h = new PositionHead(D, seededRandom(1));
    h.w.set(head.w);
    h.b.set(head.b);
    return h.lossAndGrad(v, clip, times, 0.5).loss;
  }

  it("gives d(visual) and the head's gradient that match central differences", () => {
    const head = new PositionHead(D, seededRandom(3));
    for (let i = 0; i < head.w.length; i++) head.w[i] = Math.cos(i) * 0.3;
    head.b.set(Array.from({ length: POSITION_OUTPUTS }, (_, k) => 0.1 * k - 0.5));
    const { loss, dVisual } = head.lossAndGrad(visual, clip, times, 0.5);
    expect(loss).toBeGreaterThan(0);
    const eps = 1e-2; // the loss is quadratic: central differences are exact up to f32 rounding
    for (const i of [0, 5, 8, 13, 20]) {
      const up = Float32Array.from(visual);
      const down = Float32Array.from(visual);
      up[i] += eps;
      down[i] -= eps;
      expect(dVisual[i]).toBeCloseTo((lossOf(head, up) - lossOf(head, down)) / (2 * eps), 3);
    }
    const g = head.grads();
    for (const i of [0, 6, 30, 77]) {
      const w = head.w[i];
      head.w[i] = w + eps;
      const up = lossOf(head, visual);
      head.w[i] = w - eps;
      const down = lossOf(head, visual);
      head.w[i] = w;
      expect(g.w[i]).toBeCloseTo((up - down) / (2 * eps), 3);
    }
    const b = head.b[4];
    head.b[4] = b + eps;
    const up = lossOf(head, visual);
    head.b[4] = b - eps;
    const down = lossOf(head, visual);
    head.b[4] = b;
    expect(g.b[4]).toBeCloseTo((up - down) / (2 * eps), 3);
  });

  it('learns the targets of a fixed input, and reads the directions from them', () => {
    const head = new PositionHead(D, seededRandom(5));
    const first = head.lossAndGrad(visual, clip, times, 1).loss;
    let last = first;
    for (let s = 0; s < 400; s++) {
      head.update(3e-2);
      last = head.lossAndGrad(visual, clip, times, 1).loss;
    }
    expect(last).toBeLessThan(first / 100);
    expect(head.directionAccuracy([visual], [clip])).toEqual({ one: Number.NaN, two: 1 });
  });

  it('with slots, trains each row only on its own colour, and reads each colour from its own row', () => {
    const head = new PositionHead(D, seededRandom(7));
    head.lossAndGrad(visual, clip, times, 1, [3, 3, 3]); // every row answers for yellow
    const g = head.grads();
    for (let k = 0; k < POSITION_OUTPUTS; k++) {
      const norm = g.w.subarray(k * D, (k + 1) * D).reduce((a, x) => a + Math.abs(x), 0);
      if (k >= 9) expect(norm).toBeGreaterThan(0);
      else expect(norm).toBe(0);
    }
    // Two frames of four latents: latent c of a frame answers for colour c.
    const rows = Float32Array.from({ length: 8 * D }, (_, i) => Math.cos(i * 0.9));
    const colours = [0, 1, 2, 3, 0, 1, 2, 3];
    const slotTimes = [0, 0, 0, 0, 23, 23, 23, 23];
    const fit = new PositionHead(D, seededRandom(8));
    for (let s = 0; s < 2000; s++) {
      fit.lossAndGrad(rows, clip, slotTimes, 1, colours);
      fit.update(1e-2);
    }
    expect(fit.directionAccuracy([rows], [clip], 4)).toEqual({ one: Number.NaN, two: 1 });
  });
});
