import { expectLength, type WeightSource, WeightSourceError } from '../weight-source';

/** Files held in memory: tests and generated fixtures. */
export class MemoryWeightSource implements WeightSource {
  readonly label: string;
  private readonly files: Map<string, Uint8Array>;

  constructor(files: Map<string, Uint8Array> | Record<string, Uint8Array>, label = 'memory') {
    this.files = files instanceof Map ? new Map(files) : new Map(Object.entries(files));
    this.label = label;
  }

  async list(): Promise<string[]> {
    return [...this.files.keys()];
  }

  async has(path: string): Promise<boolean> {
    return this.files.has(path);
  }

  async size(path: string): Promise<number> {
    return this.get(path).byteLength;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const data = this.get(path);
    const out = data.slice(offset, offset + length);
    expectLength(this, path, offset, length, out.byteLength);
    return out;
  }

  private get(path: string): Uint8Array {
    const data = this.files.get(path);
    if (!data) throw new WeightSourceError('not-found', path, `${path} is not in ${this.label}`);
    return data;
  }
}
