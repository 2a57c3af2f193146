/**
 * Central differences of a GPU loss with respect to one entry of an f32 parameter tensor, for the
 * trainers' gradient checks: (L(p + h) − L(p − h)) / 2h, the entry restored afterwards.
 */
import type { GpuContext } from '../../gpu/context';
import type { Tensor } from '../../gpu/tensor';

export async function centralDifference(
  ctx: GpuContext,
  param: Tensor,
  index: number,
  h: number,
  loss: () => Promise<number>,
): Promise<number> {
  const [value] = (await ctx.read(param)).subarray(index, index + 1);
  const set = (v: number) => {
    ctx.flush(); // a queue write lands before commands recorded but not yet submitted
    ctx.device.queue.writeBuffer(param.buffer, index * 4, Float32Array.of(v));
  };
  set(value + h);
  const up = await loss();
  set(value - h);
  const down = await loss();
  set(value);
  return (up - down) / (2 * h);
}

/** The index of the entry with the largest magnitude (the most telling one to check). */
export function largestEntry(a: ArrayLike<number>): number {
  let top = 0;
  for (let i = 1; i < a.length; i++) if (Math.abs(a[i]) > Math.abs(a[top])) top = i;
  return top;
}
