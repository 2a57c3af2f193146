/** Element types a GPU tensor can hold. 'u32' also carries packed data (e.g. 8 nibbles per word). */
export type DType = 'f32' | 'f16' | 'u32';

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, u32: 4 };

/** A storage buffer with a shape. Shapes are row-major; the last dimension is contiguous. */
export class Tensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {}
  get size(): number {
    return numel(this.shape);
  }
  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }
  /** Same buffer, another shape with the same element count (a view; no copy). */
  view(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) throw new Error(`view: ${fmt(this.shape)} -> ${fmt(shape)} changes size`);
    return new Tensor(this.buffer, shape, this.dtype);
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Bytes rounded up to what WebGPU accepts for buffers and copies. */
export const alignBytes = (n: number) => Math.max(16, Math.ceil(n / 16) * 16);

export function assertShape(name: string, t: Tensor, shape: readonly (number | undefined)[]): void {
  const ok = t.shape.length === shape.length && shape.every((d, i) => d === undefined || d === t.shape[i]);
  if (!ok) throw new Error(`${name}: expected shape ${fmt(shape.map((d) => d ?? -1))}, got ${fmt(t.shape)}`);
}

export function assertDtype(name: string, t: Tensor, ...dtypes: DType[]): void {
  if (!dtypes.includes(t.dtype))
    throw new Error(`${name}: expected dtype ${dtypes.join('|')}, got ${t.dtype}`);
}
