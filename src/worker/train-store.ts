/**
 * Where fine-tuning keeps things in OPFS (<root>/finetune/):
 * - run/: the live run, so a reload resumes it: run.json (settings, base model, the items without
 *   their clips), videos/<n> (the clips), ckpt-<step>/ (src/rl-lite/checkpoint.ts's files plus
 *   log.json and evals.json, the metrics so far) and latest.json naming the newest complete checkpoint. A checkpoint
 *   folder is written whole before latest.json points at it (each file lands whole on close), so a
 *   tab closed mid-write resumes from the one before; older folders are then removed.
 * - adapters/<id>/: a saved adapter in PEFT's layout plus meta.json (name, base model, settings).
 */
import type {
  AdapterInfo,
  EvalPoint,
  TrainItem,
  TrainSettings,
  TrainStepMetrics,
} from '../engine-client/protocol';
import type { StorageLike } from './model-cache';

const ROOT = 'finetune';

export interface RunManifest {
  settings: TrainSettings;
  baseModel: string;
  items: Omit<TrainItem, 'video'>[];
  /** The held-out split, kept so a reload can still evaluate (clips after the training ones). */
  heldOut?: Omit<TrainItem, 'video'>[];
  createdAt: string;
}

export interface Latest {
  step: number;
  dir: string;
  savedAt: string;
}

export type AdapterMeta = Omit<AdapterInfo, 'id' | 'bytes'>;

async function dirOf(
  parent: FileSystemDirectoryHandle,
  path: string[],
  create: boolean,
): Promise<FileSystemDirectoryHandle> {
  let d = parent;
  for (const p of path) d = await d.getDirectoryHandle(p, { create });
  return d;
}

async function writeFile(dir: FileSystemDirectoryHandle, name: string, data: Uint8Array | Blob | string) {
  const bytes =
    typeof data === 'string'
      ? new TextEncoder().encode(data)
      : data instanceof Uint8Array
        ? data
        : new Uint8Array(await data.arrayBuffer());
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  try {
    await w.write(bytes as Uint8Array<ArrayBuffer>);
    await w.close();
  } catch (e) {
    await w.abort().catch(() => {});
    throw e;
  }
}

async function readFile(dir: FileSystemDirectoryHandle, name: string): Promise<File | null> {
  try {
    return await (await dir.getFileHandle(name)).getFile();
  } catch {
    return null;
  }
}

const json = async <T>(dir: FileSystemDirectoryHandle, name: string): Promise<T | null> => {
  const f = await readFile(dir, name);
  if (!f) return null;
  try {
    return JSON.parse(await f.text()) as T;
  } catch {
    return null;
  }
};

async function files(dir: FileSystemDirectoryHandle): Promise<Map<string, File>> {
  const out = new Map<string, File>();
  for await (const [name, h] of dir.entries())
    if (h.kind === 'file') out.set(name, await (h as FileSystemFileHandle).getFile());
  return out;
}

export class TrainStore {
  constructor(private readonly storage: StorageLike) {}

  private async root(): Promise<FileSystemDirectoryHandle> {
    return dirOf(await this.storage.getDirectory(), [ROOT], true);
  }

  // ---- the run ----

  /** Replaces any saved run with this one's dataset and settings (no checkpoint yet). */
  async newRun(manifest: RunManifest, videos: Blob[]): Promise<void> {
    await this.discardRun();
    const run = await dirOf(await this.root(), ['run'], true);
    const v = await run.getDirectoryHandle('videos', { create: true });
    for (const [i, b] of videos.entries()) await writeFile(v, String(i), b);
    // Written last: a run folder without run.json is an unfinished start and is ignored.
    await writeFile(run, 'run.json', JSON.stringify(manifest));
  }

  async discardRun(): Promise<void> {
    await (await this.root()).removeEntry('run', { recursive: true }).catch(() => {});
  }

  private async runDir(): Promise<FileSystemDirectoryHandle | null> {
    try {
      return await (await this.root()).getDirectoryHandle('run');
    } catch {
      return null;
    }
  }

  /** The saved run's manifest and newest checkpoint pointer, or null. */
  async run(): Promise<{ manifest: RunManifest; latest: Latest | null } | null> {
    const run = await this.runDir();
    if (!run) return null;
    const manifest = await json<RunManifest>(run, 'run.json');
    if (!manifest) return null;
    return { manifest, latest: await json<Latest>(run, 'latest.json') };
  }

  /** The saved run's items and held-out items with their clips. */
  async runItems(manifest: RunManifest): Promise<{ items: TrainItem[]; heldOut: TrainItem[] }> {
    const run = await this.runDir();
    if (!run) throw new Error('the saved run is gone');
    const v = await run.getDirectoryHandle('videos');
    const all = [...manifest.items, ...(manifest.heldOut ?? [])];
    const withClips = await Promise.all(
      all.map(async (it, i) => {
        const video = await readFile(v, String(i));
        if (!video) throw new Error(`the saved run lacks the clip of item ${it.problem_id}`);
        return { ...it, video };
      }),
    );
    return {
      items: withClips.slice(0, manifest.items.length),
      heldOut: withClips.slice(manifest.items.length),
    };
  }

  /** Writes a checkpoint folder whole, then points latest.json at it, then drops older ones. */
  async saveCheckpoint(
    step: number,
    ckpt: Map<string, Uint8Array>,
    log: TrainStepMetrics[],
    evals: EvalPoint[],
  ): Promise<void> {
    const run = await this.runDir();
    if (!run) throw new Error('no run to checkpoint');
    const dir = `ckpt-${step}`;
    await run.removeEntry(dir, { recursive: true }).catch(() => {});
    const d = await run.getDirectoryHandle(dir, { create: true });
    try {
      for (const [name, data] of ckpt) await writeFile(d, name, data);
      await writeFile(d, 'log.json', JSON.stringify(log));
      await writeFile(d, 'evals.json', JSON.stringify(evals));
    } catch (e) {
      // A full disk mid-way: drop the partial folder (latest.json still names the previous one).
      await run.removeEntry(dir, { recursive: true }).catch(() => {});
      throw e;
    }
    const latest: Latest = { step, dir, savedAt: new Date().toISOString() };
    await writeFile(run, 'latest.json', JSON.stringify(latest));
    for await (const name of run.keys())
      if (name.startsWith('ckpt-') && name !== dir) await run.removeEntry(name, { recursive: true });
  }

  /** The newest checkpoint's files and its metrics log. */
  async checkpoint(
    latest: Latest,
  ): Promise<{ files: Map<string, File>; log: TrainStepMetrics[]; evals: EvalPoint[] }> {
    const run = await this.runDir();
    if (!run) throw new Error('the saved run is gone');
    const d = await run.getDirectoryHandle(latest.dir);
    const all = await files(d);
    const log = all.has('log.json')
      ? (JSON.parse(await all.get('log.json')!.text()) as TrainStepMetrics[])
      : [];
    const evals = all.has('evals.json')
      ? (JSON.parse(await all.get('evals.json')!.text()) as EvalPoint[])
      : [];
    all.delete('log.json');
    all.delete('evals.json');
    return { files: all, log, evals };
  }

  // ---- adapters ----

  private async adapters(): Promise<FileSystemDirectoryHandle> {
    return dirOf(await this.root(), ['adapters'], true);
  }

  async saveAdapter(id: string, meta: AdapterMeta, peft: Map<string, Uint8Array>): Promise<AdapterInfo> {
    const all = await this.adapters();
    const d = await all.getDirectoryHandle(id, { create: true });
    for (const [name, data] of peft) await writeFile(d, name, data);
    // meta.json last: a folder without it is an unfinished save.
    await writeFile(d, 'meta.json', JSON.stringify(meta));
    return (await this.adapter(id))!;
  }

  async adapter(id: string): Promise<AdapterInfo | null> {
    let d: FileSystemDirectoryHandle;
    try {
      d = await (await this.adapters()).getDirectoryHandle(id);
    } catch {
      return null;
    }
    const meta = await json<AdapterMeta>(d, 'meta.json');
    if (!meta) return null;
    let bytes = 0;
    for (const f of (await files(d)).values()) bytes += f.size;
    return { ...meta, id, bytes };
  }

  async listAdapters(): Promise<AdapterInfo[]> {
    const all = await this.adapters();
    const out: AdapterInfo[] = [];
    for await (const name of all.keys()) {
      const a = await this.adapter(name);
      if (a) out.push(a);
      else await all.removeEntry(name, { recursive: true }).catch(() => {});
    }
    return out.sort((a, b) => (a.savedAt < b.savedAt ? 1 : -1));
  }

  async adapterFiles(id: string): Promise<Map<string, File>> {
    const d = await (await this.adapters()).getDirectoryHandle(id);
    const all = await files(d);
    all.delete('meta.json');
    return all;
  }

  async renameAdapter(id: string, name: string): Promise<AdapterInfo> {
    const a = await this.adapter(id);
    if (!a) throw new Error(`no adapter ${id}`);
    const { id: _id, bytes: _b, ...meta } = a;
    const d = await (await this.adapters()).getDirectoryHandle(id);
    await writeFile(d, 'meta.json', JSON.stringify({ ...meta, name }));
    return (await this.adapter(id))!;
  }

  async deleteAdapter(id: string): Promise<void> {
    await (await this.adapters()).removeEntry(id, { recursive: true });
  }
}
