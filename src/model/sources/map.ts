import { expectLength, type WeightSource, WeightSourceError } from '../weight-source';

/** A file's contents: bytes in memory, or a Blob (a picked File) read by slices, never whole. */
export type FileContents = Uint8Array | { readonly size: number; slice(start?: number, end?: number): Blob };

/**
 * A checkpoint's files by relative path, held in a Map: bytes (tests, generated fixtures) or the
 * files the user picked (pickedFiles in files.ts). The one Map-backed WeightSource.
 */
export class MapWeightSource implements WeightSource {
  readonly label: string;
  private readonly files: Map<string, FileContents>;

  constructor(files: ReadonlyMap<string, FileContents> | Record<string, FileContents>, label = 'memory') {
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
    const f = this.get(path);
    return f instanceof Uint8Array ? f.byteLength : f.size;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const f = this.get(path);
    const out =
      f instanceof Uint8Array
        ? f.slice(offset, offset + length)
        : new Uint8Array(await f.slice(offset, offset + length).arrayBuffer());
    expectLength(this, path, offset, length, out.byteLength);
    return out;
  }

  private get(path: string): FileContents {
    const f = this.files.get(path);
    if (!f) throw new WeightSourceError('not-found', path, `no ${path} in ${this.label}`);
    return f;
  }
}
