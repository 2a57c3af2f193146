import { expectLength, type WeightSource, WeightSourceError } from '../weight-source';

/** A File from an <input type=file> (folder pick gives webkitRelativePath) or a Blob with a name. */
export interface PickedFile {
  readonly name: string;
  readonly webkitRelativePath?: string;
  readonly size: number;
  slice(start?: number, end?: number): Blob;
}

/**
 * Files the user picked: a folder (webkitdirectory) or several loose files. Paths are relative to
 * the picked folder: when every file shares one top folder it is stripped, so "TinyLLaVA-Video-R1/
 * config.json" is found as "config.json". Reads slice the Blob, so nothing is loaded whole.
 */
export class FileWeightSource implements WeightSource {
  readonly label: string;
  private readonly files = new Map<string, PickedFile>();

  constructor(files: Iterable<PickedFile>, label = 'picked files') {
    const list = [...files];
    const paths = list.map((f) => (f.webkitRelativePath || f.name).replace(/\\/g, '/'));
    const top = commonTopFolder(paths);
    list.forEach((f, i) => {
      const p = top ? paths[i].slice(top.length + 1) : paths[i];
      if (this.files.has(p))
        throw new WeightSourceError('invalid', p, `two picked files are both named ${p}`);
      this.files.set(p, f);
    });
    this.label = label;
  }

  async list(): Promise<string[]> {
    return [...this.files.keys()];
  }

  async has(path: string): Promise<boolean> {
    return this.files.has(path);
  }

  async size(path: string): Promise<number> {
    return this.get(path).size;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const f = this.get(path);
    const out = new Uint8Array(await f.slice(offset, offset + length).arrayBuffer());
    expectLength(this, path, offset, length, out.byteLength);
    return out;
  }

  private get(path: string): PickedFile {
    const f = this.files.get(path);
    if (!f) throw new WeightSourceError('not-found', path, `${path} is not among the ${this.label}`);
    return f;
  }
}

function commonTopFolder(paths: string[]): string | undefined {
  if (paths.length === 0) return undefined;
  const first = paths[0].split('/');
  if (first.length < 2) return undefined;
  const top = first[0];
  return paths.every((p) => p.startsWith(top + '/')) ? top : undefined;
}
