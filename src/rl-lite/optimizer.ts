/**
 * AdamW over an adapter's factors, or over any list of {param, grad} tensors (full fine-tuning),
 * with global gradient-norm clipping (torch's clip_grad_norm_: scale = max_norm / (‖g‖ + 1e-6) when
 * ‖g‖ > max_norm) and the learning-rate schedules TRL users know (constant, linear, cosine; warmup
 * as a ratio of the steps).
 */
import type { GpuContext } from '../gpu/context';
import { type AdamWHyper, adamwStep, sumSquaresInto, sumSquaresParts } from '../gpu/kernels/adamw';
import type { Tensor } from '../gpu/tensor';
import { LoraAdapter } from './lora';
import { type Param, zeroTensors } from './params';

export type LrSchedule = 'constant' | 'linear' | 'cosine';

export interface OptimizerConfig extends AdamWHyper {
  /** 0 or Infinity: no clipping. */
  maxGradNorm: number;
  schedule: LrSchedule;
  warmupRatio: number;
  /** Steps the schedule spans. */
  totalSteps: number;
}

/** The learning rate at step t (1-based), as transformers' get_*_schedule_with_warmup. */
export function learningRate(
  c: Pick<OptimizerConfig, 'lr' | 'schedule' | 'warmupRatio' | 'totalSteps'>,
  t: number,
): number {
  const warmup = Math.ceil(c.warmupRatio * c.totalSteps);
  const s = t - 1; // transformers counts from 0
  if (s < warmup) return (c.lr * s) / Math.max(1, warmup);
  if (c.schedule === 'constant') return c.lr;
  const progress = (s - warmup) / Math.max(1, c.totalSteps - warmup);
  if (c.schedule === 'linear') return c.lr * Math.max(0, 1 - progress);
  return c.lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Serializable optimizer state, for checkpoints that resume bit-exactly. */
export interface OptimizerState {
  step: number;
  /** m, v of each parameter in the adapter's order (A then B per pair), or the list's. */
  moments: { m: Float32Array; v: Float32Array }[];
}

export class AdamW {
  step = 0;
  private readonly params: { p: Tensor; g: Tensor; m: Tensor; v: Tensor; lrScale: number }[] = [];
  private readonly parts: Tensor;

  /** The adapter it steps; null when given a list of parameters. */
  readonly lora: LoraAdapter | null;

  constructor(
    private readonly ctx: GpuContext,
    trainable: LoraAdapter | readonly Param[],
    readonly config: OptimizerConfig,
  ) {
    this.lora = trainable instanceof LoraAdapter ? trainable : null;
    const list: { p: Tensor; g: Tensor; lrScale?: number }[] =
      trainable instanceof LoraAdapter
        ? [...trainable.pairs()].flatMap(({ pair }) => [
            { p: pair.A, g: pair.dA },
            { p: pair.B, g: pair.dB },
          ])
        : [...trainable];
    for (const { p, g, lrScale = 1 } of list) {
      const zeros = () => ctx.upload(new Float32Array(p.size), p.shape, 'f32');
      this.params.push({ p, g, m: zeros(), v: zeros(), lrScale });
    }
    const n = this.params.reduce((s, q) => s + sumSquaresParts(q.g.size), 0);
    this.parts = ctx.upload(new Float32Array(n), [n], 'f32');
  }

  /** ‖g‖ over every gradient (one readback). */
  async gradNorm(): Promise<number> {
    let at = 0;
    for (const { g } of this.params) {
      sumSquaresInto(this.ctx, g, this.parts, at);
      at += sumSquaresParts(g.size);
    }
    const parts = await this.ctx.read(this.parts);
    let s = 0;
    for (const v of parts) s += v;
    return Math.sqrt(s);
  }

  /** Clips, steps every parameter, zeroes the gradients. Returns the norm before clipping and the lr used. */
  async update(): Promise<{ gradNorm: number; lr: number }> {
    const gradNorm = await this.gradNorm();
    if (!Number.isFinite(gradNorm)) throw new Error(`optimizer: gradient norm is ${gradNorm}`);
    const max = this.config.maxGradNorm;
    const scale = max > 0 && gradNorm > max ? max / (gradNorm + 1e-6) : 1;
    this.step++;
    const lr = learningRate(this.config, this.step);
    for (const { p, g, m, v, lrScale } of this.params)
      adamwStep(this.ctx, p, g, m, v, { ...this.config, lr: lr * lrScale }, this.step, scale);
    this.zeroGrads();
    return { gradNorm, lr };
  }

  /** Sets every gradient to zero. */
  zeroGrads(): void {
    zeroTensors(
      this.ctx,
      this.params.map((q) => q.g),
    );
  }

  async state(): Promise<OptimizerState> {
    const moments = [];
    for (const { m, v } of this.params)
      moments.push({ m: await this.ctx.read(m), v: await this.ctx.read(v) });
    return { step: this.step, moments };
  }

  load(s: OptimizerState): void {
    if (s.moments.length !== this.params.length)
      throw new Error(`optimizer state: ${s.moments.length} tensors, the adapter has ${this.params.length}`);
    this.ctx.flush();
    for (const [i, { m, v }] of this.params.entries()) {
      if (s.moments[i].m.length !== m.size)
        throw new Error(`optimizer state: tensor ${i} has the wrong size`);
      this.ctx.device.queue.writeBuffer(m.buffer, 0, s.moments[i].m);
      this.ctx.device.queue.writeBuffer(v.buffer, 0, s.moments[i].v);
    }
    this.step = s.step;
  }

  destroy(): void {
    for (const { m, v } of this.params) this.ctx.release(m, v);
    this.ctx.release(this.parts);
  }
}
