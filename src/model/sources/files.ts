import { WeightSourceError } from '../weight-source';
import { MapWeightSource } from './map';

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
export function pickedFiles(files: Iterable<PickedFile>, label?: string): MapWeightSource {
  const list = [...files];
  const paths = list.map(pathOf);
  const top = commonTopFolder(paths);
  const byPath = new Map<string, PickedFile>();
  list.forEach((f, i) => {
    const p = top ? paths[i].slice(top.length + 1) : paths[i];
    if (byPath.has(p)) throw new WeightSourceError('invalid', p, `two picked files are both named ${p}`);
    byPath.set(p, f);
  });
  return new MapWeightSource(byPath, label ?? (top ? `picked folder ${top}` : 'picked files'));
}

/** The folder every picked file sits in (a folder pick), or undefined (loose files). */
export function pickedFolder(files: Iterable<PickedFile>): string | undefined {
  return commonTopFolder([...files].map(pathOf));
}

const pathOf = (f: PickedFile) => (f.webkitRelativePath || f.name).replace(/\\/g, '/');

function commonTopFolder(paths: string[]): string | undefined {
  if (paths.length === 0) return undefined;
  const first = paths[0].split('/');
  if (first.length < 2) return undefined;
  const top = first[0];
  return paths.every((p) => p.startsWith(top + '/')) ? top : undefined;
}
