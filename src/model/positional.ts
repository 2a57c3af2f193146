import { roundToF16 } from '../gpu/f16';

/**
 * The connector's sinusoidal positions [n, dim]: base 10000, sin in even dims, cos in odd dims
 * (interleaved), built in float16 upstream, so values are rounded to f16 here too.
 */
export function sinusoidalPositions(n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let pos = 0; pos < n; pos++) {
    for (let i = 0; i < dim; i += 2) {
      const angle = pos / 10000 ** (i / dim);
      out[pos * dim + i] = Math.sin(angle);
      if (i + 1 < dim) out[pos * dim + i + 1] = Math.cos(angle);
    }
  }
  return roundToF16(out);
}

/** Chunk sizes when `seq` tokens are cut into `group` chunks: seq // group each, the first seq % group get one more. */
export function chunkSizes(seq: number, group: number): number[] {
  const base = Math.floor(seq / group);
  const extra = seq % group;
  return Array.from({ length: group }, (_, i) => base + (i < extra ? 1 : 0));
}
