/**
 * Datasets as files: the paper's JSONL with its clips, as a zip (dataset.jsonl at the top, each clip
 * at its video_filename, as the JSONL's folder would hold them) or as picked files / a folder. Items
 * of the held-out split carry `split: "heldout"` (other readers ignore unknown fields).
 */
import { unzipSync, zipSync } from 'fflate';
import type { TrainItem } from '../../engine-client';
import { EngineError } from '../../engine-client';
import type { DatasetEntry } from './finetune-slice';

type Parse = (text: string, source: string) => Promise<Omit<TrainItem, 'video'>[]>;

/** A picked file's path inside its folder pick, or its name. */
const pathOf = (f: File): string =>
  (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
const base = (p: string): string => p.split('/').pop() ?? p;
const dir = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/') + 1) : '');

export async function readDatasetFiles(files: File[], parse: Parse): Promise<DatasetEntry[]> {
  // Every file by its path; a zip contributes its entries.
  const byPath = new Map<string, Blob>();
  for (const f of files) {
    if (/\.zip$/i.test(f.name)) {
      let entries: Record<string, Uint8Array>;
      try {
        entries = unzipSync(new Uint8Array(await f.arrayBuffer()));
      } catch (e) {
        throw new EngineError(
          'bad-request',
          `${f.name} is not a readable zip (${(e as Error).message}).`,
          '',
        );
      }
      for (const [p, data] of Object.entries(entries))
        if (!p.endsWith('/'))
          byPath.set(p, new Blob([data as BlobPart], { type: /\.mp4$/i.test(p) ? 'video/mp4' : '' }));
    } else byPath.set(pathOf(f), f);
  }
  const jsonl = [...byPath.keys()].filter((p) => /\.jsonl$/i.test(p));
  if (jsonl.length !== 1)
    throw new EngineError(
      'bad-request',
      jsonl.length
        ? `Found ${jsonl.length} JSONL files; pick one dataset at a time.`
        : 'No .jsonl file among the picked files.',
      'Pick the dataset’s JSONL together with its clips, its folder, or a zip of them.',
    );
  const where = dir(jsonl[0]);
  const items = await parse(await byPath.get(jsonl[0])!.text(), base(jsonl[0]));
  const byBase = new Map([...byPath].map(([p, b]) => [base(p), b]));
  const missing: string[] = [];
  const out: DatasetEntry[] = [];
  for (const it of items) {
    const video =
      byPath.get(where + it.video_filename) ??
      byPath.get(it.video_filename) ??
      byBase.get(base(it.video_filename));
    if (!video) missing.push(it.video_filename);
    else out.push({ ...it, video, heldOut: (it as { split?: unknown }).split === 'heldout' });
  }
  if (missing.length)
    throw new EngineError(
      'bad-request',
      `${missing.length} clip${missing.length > 1 ? 's are' : ' is'} missing: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}.`,
      'Pick the clips with the JSONL (or its whole folder).',
    );
  return out;
}

/** dataset.jsonl and every clip at its video_filename, in one zip (clips stored, not recompressed). */
export async function datasetZip(jsonl: string, items: readonly TrainItem[]): Promise<Blob> {
  const files: Record<string, Uint8Array | [Uint8Array, { level: 0 }]> = {
    'dataset.jsonl': new TextEncoder().encode(jsonl),
  };
  for (const it of items)
    files[it.video_filename] = [new Uint8Array(await it.video.arrayBuffer()), { level: 0 }];
  return new Blob([zipSync(files) as BlobPart], { type: 'application/zip' });
}
