/** Trainable tensors as the optimizer sees them: a name, the parameter and its f32 gradient. */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { isQuantized, type WeightScope } from '../model/gpu-weights';

export interface Param {
  /** The tensor's name in the checkpoint (or the adapter's tree). */
  name: string;
  p: Tensor;
  /** f32, the shape of p, accumulated until zeroed. */
  g: Tensor;
  /** The optimizer's learning rate for this tensor is the schedule's times this (torch's param groups; default 1). */
  lrScale?: number;
}

/** Sets tensors to zero by queue writes (after the commands already recorded). */
export function zeroTensors(ctx: GpuContext, ts: readonly Tensor[]): void {
  ctx.flush(); // queue writes land before commands recorded but not yet submitted
  for (const t of ts) ctx.device.queue.writeBuffer(t.buffer, 0, new Float32Array(t.size));
}

/**
 * Weights of one part of the model trained in full (the vision tower, the connector): the inference
 * model's own plain f32 tensors, so a step moves the model the app runs, each with an f32 gradient.
 */
export class ScopeParams {
  /** In `names` order, named under the scope's prefix (the checkpoint's names). */
  readonly params: Param[];
  private readonly byName = new Map<string, Param>();

  /** `what` names the part in the message when a weight is not plain f32. */
  constructor(
    private readonly ctx: GpuContext,
    w: WeightScope,
    names: readonly string[],
    what: string,
  ) {
    this.params = names.map((name) => {
      const p = w.linear(name);
      if (isQuantized(p) || p.dtype !== 'f32')
        throw new Error(`training ${what} needs f32 weights, but ${name} is not: load them plain in f32`);
      const q = { name: w.prefix + name, p, g: ctx.upload(new Float32Array(p.size), p.shape, 'f32') };
      this.byName.set(name, q);
      return q;
    });
  }

  /** The weight `name` (under the scope's prefix). */
  weight(name: string): Tensor {
    return this.get(name).p;
  }

  /** The gradient accumulated for `name` (under the scope's prefix). */
  grad(name: string): Tensor {
    return this.get(name).g;
  }

  zeroGrads(): void {
    zeroTensors(
      this.ctx,
      this.params.map((q) => q.g),
    );
  }

  /** Frees the gradients (the weights are the model's). */
  destroy(): void {
    for (const { g } of this.params) this.ctx.release(g);
  }

  private get(name: string): Param {
    const q = this.byName.get(name);
    if (!q) throw new Error(`no trainable weight ${name}`);
    return q;
  }
}
