import type { QTensor } from '../gpu/kernels/quant/format';
import type { Tensor } from '../gpu/tensor';

/** A Linear layer's weight: plain [N, K] (f16/f32) or 4-bit group-quantized. */
export type LinearWeight = Tensor | QTensor;

export const isQuantized = (w: LinearWeight): w is QTensor => 'packed' in w;

/** The model's weights once on the GPU, by checkpoint tensor name. */
export class GpuWeights {
  private readonly map = new Map<string, Tensor>();
  private readonly quantized = new Map<string, QTensor>();

  set(name: string, t: Tensor): void {
    this.map.set(name, t);
  }

  get(name: string): Tensor {
    const t = this.map.get(name);
    if (!t) throw new Error(`weight not loaded: ${name}`);
    return t;
  }

  has(name: string): boolean {
    return this.map.has(name) || this.quantized.has(name);
  }

  /** Drops a plain weight (its buffer goes back to the caller's pool or is destroyed by the caller). */
  take(name: string): Tensor {
    const t = this.get(name);
    this.map.delete(name);
    return t;
  }

  /** Replaces a plain weight by its 4-bit form (the caller releases the plain tensor). */
  setQuantized(name: string, q: QTensor): void {
    this.map.delete(name);
    this.quantized.set(name, q);
  }

  /** A Linear weight in whichever form it was loaded. */
  linear(name: string): LinearWeight {
    return this.quantized.get(name) ?? this.get(name);
  }

  /** A view that prefixes every name, so components read their own weights by local names. */
  scope(prefix: string): WeightScope {
    return new WeightScope(this, prefix);
  }

  get totalBytes(): number {
    let n = 0;
    for (const t of this.map.values()) n += t.byteLength;
    for (const q of this.quantized.values())
      n += q.packed.byteLength + q.scales.byteLength + (q.mins?.byteLength ?? 0);
    return n;
  }

  destroy(): void {
    for (const t of this.map.values()) t.buffer.destroy();
    for (const q of this.quantized.values())
      for (const t of [q.packed, q.scales, q.mins]) t?.buffer.destroy();
    this.map.clear();
    this.quantized.clear();
  }
}

export class WeightScope {
  constructor(
    private readonly w: GpuWeights,
    readonly prefix: string,
  ) {}
  get(name: string): Tensor {
    return this.w.get(this.prefix + name);
  }
  has(name: string): boolean {
    return this.w.has(this.prefix + name);
  }
  linear(name: string): LinearWeight {
    return this.w.linear(this.prefix + name);
  }
  scope(prefix: string): WeightScope {
    return new WeightScope(this.w, this.prefix + prefix);
  }
}
