/**
 * A supervised stage for the demo model's connector alone (`rl:demo --positions-steps N`): a linear
 * head reads, from each latent of a frame alone, where every colour's square is in that frame
 * (present or not; the x, y of its centre), and its squared error's gradient goes back through the
 * connector. One head serves every latent, so any one latent the language model attends to carries
 * the whole frame, in one code. With `slots`, latent j of a frame answers for colour j alone (four
 * latents a frame, one a colour): the language model then finds the asked square by where it looks.
 * With `frame`, the head reads a frame's latents together (the first form of this stage, which made the
 * demo model's fourth run). The head is then thrown away; only the connector's weights change, and the
 * language model trains on them after.
 *
 * Why: a connector that is random, or trained only through the language model's loss, averages a
 * frame's patches and loses which colour is where (rl:probe measures it), so two-square clips stay
 * near a coin flip. Asking for every square's position, not only the asked one's, makes the latents
 * keep it.
 */
import type { GpuContext } from '../../src/gpu/context';
import { ADAMW_DEFAULTS, adamwStepCpu } from '../../src/gpu/kernels/adamw';
import type { Tensor } from '../../src/gpu/tensor';
import type { ConnectorTrainer } from '../../src/rl-lite/connector';
import { AdamW } from '../../src/rl-lite/optimizer';
import {
  CLIP_SIZE,
  COLOURS,
  type Random,
  SQUARE_SIZE,
  type SquaresClip,
  shuffled,
  squareAt,
} from '../../src/rl-lite/tasks/moving-squares';

/** Outputs a frame: per colour, present (1 or 0), then x and y of its centre in [-1, 1]. */
export const POSITION_OUTPUTS = COLOURS.length * 3;

/** The head's targets for frame time t (in clip frames) and which of them count (x, y only when present). */
export function positionTargets(clip: SquaresClip, t: number): { y: Float32Array; mask: Float32Array } {
  const y = new Float32Array(POSITION_OUTPUTS);
  const mask = new Float32Array(POSITION_OUTPUTS);
  const half = (CLIP_SIZE - SQUARE_SIZE) / 2; // centres span [S/2, CLIP − S/2]
  for (let c = 0; c < COLOURS.length; c++) mask[3 * c] = 1;
  for (const s of clip.squares) {
    const c = 3 * COLOURS.indexOf(s.colour);
    const p = squareAt(s, t);
    y[c] = 1;
    y[c + 1] = (p.x + SQUARE_SIZE / 2 - CLIP_SIZE / 2) / half;
    y[c + 2] = (p.y + SQUARE_SIZE / 2 - CLIP_SIZE / 2) / half;
    mask[c + 1] = mask[c + 2] = 1;
  }
  return { y, mask };
}

/** A linear map from one latent (D values) to POSITION_OUTPUTS, with its own Adam. */
export class PositionHead {
  readonly w: Float32Array; // [POSITION_OUTPUTS, D]
  readonly b = new Float32Array(POSITION_OUTPUTS);
  private readonly gw: Float32Array;
  private readonly gb = new Float32Array(POSITION_OUTPUTS);
  private readonly moments: Float32Array[];
  private step = 0;

  constructor(
    readonly dim: number,
    rand: Random,
  ) {
    this.w = Float32Array.from({ length: POSITION_OUTPUTS * dim }, () => (rand() - 0.5) * 0.02);
    this.gw = new Float32Array(this.w.length);
    this.moments = [this.w, this.w, this.b, this.b].map((p) => new Float32Array(p.length));
  }

  /** One latent's outputs. */
  forward(h: Float32Array): Float32Array {
    const { dim: D, w } = this;
    const o = Float32Array.from(this.b);
    for (let k = 0; k < POSITION_OUTPUTS; k++) for (let j = 0; j < D; j++) o[k] += w[k * D + j] * h[j];
    return o;
  }

  /**
   * Loss of one clip, Σ over latents and outputs of mask·(out − target)² times `scale`, with
   * d(visual) [rows·D] returned and the head's gradient accumulated. `times` gives each latent (row)
   * the clip time of its frame; `colours` (slots), the one colour each row answers for.
   */
  lossAndGrad(
    visual: Float32Array,
    clip: SquaresClip,
    times: readonly number[],
    scale: number,
    colours?: readonly number[],
  ): { loss: number; dVisual: Float32Array } {
    const { dim: D, w } = this;
    const dVisual = new Float32Array(visual.length);
    let loss = 0;
    for (const [f, t] of times.entries()) {
      const h = visual.subarray(f * D, (f + 1) * D);
      const o = this.forward(h);
      const { y, mask } = positionTargets(clip, t);
      for (let k = 0; k < POSITION_OUTPUTS; k++) {
        if (colours && Math.floor(k / 3) !== colours[f]) continue;
        const e = mask[k] * (o[k] - y[k]);
        if (e === 0) continue;
        loss += scale * e * e;
        const g = 2 * scale * e;
        this.gb[k] += g;
        for (let j = 0; j < D; j++) {
          this.gw[k * D + j] += g * h[j];
          dVisual[f * D + j] += g * w[k * D + j];
        }
      }
    }
    return { loss, dVisual };
  }

  /** The head's gradient so far (w then b), for tests. */
  grads(): { w: Float32Array; b: Float32Array } {
    return { w: this.gw, b: this.gb };
  }

  /** Adam (the optimizer kernel's CPU reference, no decay) on the accumulated gradient, which it then zeroes. */
  update(lr: number): void {
    this.step++;
    const h = { ...ADAMW_DEFAULTS, lr, weightDecay: 0 };
    const sets: [Float32Array, Float32Array, Float32Array, Float32Array][] = [
      [this.w, this.gw, this.moments[0], this.moments[1]],
      [this.b, this.gb, this.moments[2], this.moments[3]],
    ];
    for (const [p, g, m, v] of sets) {
      const r = adamwStepCpu(p, g, m, v, h, this.step);
      p.set(r.param);
      m.set(r.m);
      v.set(r.v);
      g.fill(0);
    }
  }

  /**
   * How often the head's positions from the first and the last latent (first and last frame) give a
   * square's direction (the larger of the two displacements, its sign), apart for one- and
   * two-square clips. With `slots` latents a frame, colour c's are latent c of each.
   */
  directionAccuracy(visuals: readonly Float32Array[], clips: readonly SquaresClip[], slots = 0) {
    const D = this.dim;
    const n = { one: [0, 0], two: [0, 0] };
    for (const [i, clip] of clips.entries()) {
      const v = visuals[i];
      for (const s of clip.squares) {
        const k = 3 * COLOURS.indexOf(s.colour);
        const first = slots ? k / 3 : 0;
        const last = slots ? v.length / D - slots + k / 3 : v.length / D - 1;
        const a = this.forward(v.subarray(first * D, (first + 1) * D));
        const b = this.forward(v.subarray(last * D, (last + 1) * D));
        const dx = b[k + 1] - a[k + 1];
        const dy = b[k + 2] - a[k + 2];
        const d = Math.abs(dx) > Math.abs(dy) ? (dx < 0 ? 'left' : 'right') : dy < 0 ? 'up' : 'down';
        const tally = clip.squares.length === 1 ? n.one : n.two;
        tally[0] += d === s.direction ? 1 : 0;
        tally[1]++;
      }
    }
    return { one: n.one[0] / n.one[1], two: n.two[0] / n.two[1] };
  }
}

export interface PositionExample {
  features: Tensor;
  clip: SquaresClip;
}

/**
 * Trains the connector (its own AdamW, cosine schedule) through a fresh PositionHead for `steps`
 * steps of `batch` clips, logging the loss and, every `evalEvery` steps, the head's direction
 * accuracy on `test`.
 */
export async function positionsStage(
  ctx: GpuContext,
  connector: ConnectorTrainer,
  train: readonly PositionExample[],
  test: readonly PositionExample[],
  o: {
    steps: number;
    batch: number;
    lr: number;
    times: readonly number[];
    rand: Random;
    evalEvery: number;
    /** Latent j of a frame answers for colour j alone (needs as many latents a frame as colours). */
    slots?: boolean;
    /** One head input is a frame's latents side by side, not one latent. */
    frame?: boolean;
  },
): Promise<{ one: number; two: number }> {
  const frames = o.times.length;
  const perFrame = connector.c.numQueries / frames;
  const rowTimes = o.times.flatMap((t) => Array<number>(perFrame).fill(t));
  if (o.slots && perFrame !== COLOURS.length)
    throw new Error(`slots: ${perFrame} latents a frame, not one a colour (${COLOURS.length})`);
  if (o.slots && o.frame)
    throw new Error('slots and frame: a head reads one latent or a whole frame, not both');
  const colours = o.slots ? rowTimes.map((_, r) => r % perFrame) : undefined;
  // Rows are frame-major, so a frame's latents are one contiguous input of perFrame·D values.
  const inputTimes = o.frame ? o.times : rowTimes;
  const head = new PositionHead(connector.c.dim * (o.frame ? perFrame : 1), o.rand);
  const opt = new AdamW(ctx, connector.params, {
    ...ADAMW_DEFAULTS,
    lr: o.lr,
    weightDecay: 0,
    maxGradNorm: 1,
    schedule: 'cosine',
    warmupRatio: 0.05,
    totalSteps: o.steps,
  });
  opt.zeroGrads();
  const visualOf = async (ex: PositionExample) => {
    const v = connector.forward(ex.features);
    const data = await ctx.read(v);
    ctx.release(v);
    return data;
  };
  const evaluate = async () => {
    const vs: Float32Array[] = [];
    for (const ex of test) vs.push(await visualOf(ex));
    return head.directionAccuracy(
      vs,
      test.map((ex) => ex.clip),
      o.slots ? perFrame : 0,
    );
  };
  const order: number[] = [];
  const t0 = performance.now();
  for (let s = 1; s <= o.steps; s++) {
    while (order.length < o.batch) order.push(...shuffled(o.rand, train.keys()));
    let loss = 0;
    for (const i of order.splice(0, o.batch)) {
      const ex = train[i];
      const visual = await visualOf(ex);
      const r = head.lossAndGrad(visual, ex.clip, inputTimes, 1 / (o.batch * inputTimes.length), colours);
      loss += r.loss;
      ctx.tidy(() => {
        connector.backward(
          ex.features,
          ctx.upload(r.dVisual, [connector.c.numQueries, connector.c.dim], 'f32'),
        );
      });
    }
    head.update(3e-3);
    const u = await opt.update();
    if (s === 1 || s % 50 === 0)
      console.log(
        `positions step ${s}: loss ${loss.toFixed(4)}, |g| ${u.gradNorm.toFixed(2)}, ${((performance.now() - t0) / s).toFixed(0)} ms a step`,
      );
    if (o.evalEvery > 0 && s % o.evalEvery === 0 && s < o.steps) {
      const e = await evaluate();
      console.log(
        `  held-out: the head's directions, one square ${e.one.toFixed(3)}, two ${e.two.toFixed(3)}`,
      );
    }
  }
  const e = await evaluate();
  console.log(
    `positions: the head's directions on held-out, one square ${e.one.toFixed(3)}, two ${e.two.toFixed(3)}`,
  );
  opt.destroy();
  return e;
}
