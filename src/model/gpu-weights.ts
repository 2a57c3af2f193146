import type { Tensor } from '../gpu/tensor';

/** The model's weights once on the GPU, by checkpoint tensor name. */
export class GpuWeights {
  private readonly map = new Map<string, Tensor>();

  set(name: string, t: Tensor): void {
    this.map.set(name, t);
  }

  get(name: string): Tensor {
    const t = this.map.get(name);
    if (!t) throw new Error(`weight not loaded: ${name}`);
    return t;
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  /** A view that prefixes every name, so components read their own weights by local names. */
  scope(prefix: string): WeightScope {
    return new WeightScope(this, prefix);
  }

  get totalBytes(): number {
    let n = 0;
    for (const t of this.map.values()) n += t.byteLength;
    return n;
  }

  destroy(): void {
    for (const t of this.map.values()) t.buffer.destroy();
    this.map.clear();
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
  scope(prefix: string): WeightScope {
    return new WeightScope(this.w, this.prefix + prefix);
  }
}
