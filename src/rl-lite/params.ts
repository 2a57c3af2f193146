/** Trainable tensors as the optimizer sees them: a name, the parameter and its f32 gradient. */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';

export interface Param {
  /** The tensor's name in the checkpoint (or the adapter's tree). */
  name: string;
  p: Tensor;
  /** f32, the shape of p, accumulated until zeroed. */
  g: Tensor;
}

/** Sets tensors to zero by queue writes (after the commands already recorded). */
export function zeroTensors(ctx: GpuContext, ts: readonly Tensor[]): void {
  ctx.flush(); // queue writes land before commands recorded but not yet submitted
  for (const t of ts) ctx.device.queue.writeBuffer(t.buffer, 0, new Float32Array(t.size));
}
