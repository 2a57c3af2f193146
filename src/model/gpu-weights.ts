import type { QTensor } from '../gpu/kernels/quant/format';
import type { Tensor } from '../gpu/tensor';

/** A Linear layer's weight: plain [N, K] (f16/f32) or 4-bit group-quantized. */
export type LinearWeight = Tensor | QTensor;

export const isQuantized = (w: LinearWeight): w is QTensor => 'packed' in w;

/** GPU bytes of a Linear weight in either form. */
export const linearBytes = (w: LinearWeight): number =>
  isQuantized(w) ? w.packed.byteLength + w.scales.byteLength + (w.mins?.byteLength ?? 0) : w.byteLength;

/** The model's weights once on the GPU, by checkpoint tensor name. */
export class GpuWeights {
  private readonly map = new Map<string, Tensor>();
  private readonly quantized = new Map<string, QTensor>();
  /** Vocabulary-sized tables split by rows so each part fits one storage binding. */
  private readonly tables = new Map<string, LinearWeight[]>();

  set(name: string, t: Tensor): void {
    this.map.set(name, t);
  }

  get(name: string): Tensor {
    const t = this.map.get(name);
    if (!t) throw new Error(`weight not loaded: ${name}`);
    return t;
  }

  has(name: string): boolean {
    return this.map.has(name) || this.quantized.has(name) || this.tables.has(name);
  }

  /** Removes a plain weight and hands it to the caller (who releases or destroys it). */
  takePlain(name: string): Tensor {
    const t = this.get(name);
    this.map.delete(name);
    return t;
  }

  /** Removes a Linear weight in whichever form and hands it to the caller. */
  take(name: string): LinearWeight {
    const q = this.quantized.get(name);
    if (!q) return this.takePlain(name);
    this.quantized.delete(name);
    return q;
  }

  /** Stores a Linear weight in whichever form. */
  setLinear(name: string, lw: LinearWeight): void {
    if (isQuantized(lw)) this.setQuantized(name, lw);
    else this.set(name, lw);
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

  /** Stores a [V, C] table as row parts (in order), plain or 4-bit. */
  setTable(name: string, parts: LinearWeight[]): void {
    this.map.delete(name);
    this.tables.set(name, parts);
  }

  /** A [V, C] table (embedding, lm_head) as its row parts; a table loaded whole is one part. */
  table(name: string): LinearWeight[] {
    return this.tables.get(name) ?? [this.linear(name)];
  }

  /** A view that prefixes every name, so components read their own weights by local names. */
  scope(prefix: string): WeightScope {
    return new WeightScope(this, prefix);
  }

  get totalBytes(): number {
    return this.bytesWhere(() => true);
  }

  /** GPU bytes of the weights whose names pass `keep` (e.g. what one decode step reads). */
  bytesWhere(keep: (name: string) => boolean): number {
    let n = 0;
    for (const [k, t] of this.map) if (keep(k)) n += t.byteLength;
    for (const [k, q] of this.quantized) if (keep(k)) n += linearBytes(q);
    for (const [k, parts] of this.tables) if (keep(k)) for (const p of parts) n += linearBytes(p);
    return n;
  }

  destroy(): void {
    for (const t of this.map.values()) t.buffer.destroy();
    const destroy = (w: LinearWeight) => {
      for (const t of isQuantized(w) ? [w.packed, w.scales, w.mins] : [w]) t?.buffer.destroy();
    };
    for (const q of this.quantized.values()) destroy(q);
    for (const parts of this.tables.values()) parts.forEach(destroy);
    this.map.clear();
    this.quantized.clear();
    this.tables.clear();
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
  table(name: string): LinearWeight[] {
    return this.w.table(this.prefix + name);
  }
  scope(prefix: string): WeightScope {
    return new WeightScope(this.w, this.prefix + prefix);
  }
}
