/**
 * The offline model cache in OPFS: a model downloaded from the hub or a URL is converted while it
 * streams (src/model/convert.ts: 4-bit, the engine's format) into <OPFS>/models/<id@revision>/, and the
 * GPU load then reads that folder; the next load of the same id + revision reads it with no network.
 * The rules (what is complete, space, names) are src/model/model-cache.ts; this file holds the storage.
 * - The manifest is written last, so a folder without a valid one is never taken for a model; a
 *   failed or cancelled write removes its folder, and listing removes any such leftovers.
 * - navigator.storage.persist() is asked once; estimate() is checked against the converted size
 *   before the weights are downloaded.
 */
import { EngineError } from '../engine-client/protocol';
import type { OpenedCheckpoint } from '../model/checkpoint';
import { type ConvertSink, convertCheckpoint, type Quantizer } from '../model/convert';
import { convertedBytes, ENGINE_MANIFEST, type EngineManifest, parseManifest } from '../model/engine-format';
import { ENGINE_Q4 } from '../model/load';
import {
  CACHE_DIR,
  type CachedModel,
  type CacheKey,
  type CacheVerification,
  cacheFolder,
  checkCachedFolder,
  checkSpace,
  describeCached,
  keyOfFolder,
  type StorageEstimateLike,
} from '../model/model-cache';
import { Sha256 } from '../model/sha256';
import { MapWeightSource } from '../model/sources/map';
import type { WeightSource } from '../model/weight-source';

/** What the cache uses of navigator.storage (a stub in tests). */
export interface StorageLike {
  getDirectory(): Promise<FileSystemDirectoryHandle>;
  estimate?(): Promise<StorageEstimateLike>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

/** Bytes per read when copying a converted model into the cache. */
const COPY_CHUNK = 8 << 20;

/** Tensor data beyond which the tokenizer, configs and headers never go (added to the space check). */
const SMALL_FILES_BYTES = 16e6;

export class ModelCache {
  private persistAsked = false;

  constructor(private readonly storage: StorageLike) {}

  /**
   * Whether OPFS can be opened here (some private modes and embedded contexts refuse it): where it
   * cannot, models load from the network as without a cache.
   */
  async usable(): Promise<boolean> {
    try {
      await this.models();
      return true;
    } catch {
      return false;
    }
  }

  private async models(): Promise<FileSystemDirectoryHandle> {
    const root = await this.storage.getDirectory();
    return root.getDirectoryHandle(CACHE_DIR, { create: true });
  }

  /** Complete cached models; folders that are not (unfinished writes, old formats) are removed. */
  async list(): Promise<CachedModel[]> {
    const dir = await this.models();
    const out: CachedModel[] = [];
    for await (const [name, handle] of dir.entries()) {
      if (handle.kind !== 'directory') continue;
      const found = await readFolder(handle as FileSystemDirectoryHandle, name);
      if ('problem' in found) await dir.removeEntry(name, { recursive: true }).catch(() => {});
      else out.push(describeCached(name, found.manifest, found.manifestBytes));
    }
    return out.sort((a, b) => (a.when < b.when ? 1 : -1));
  }

  /** The cached model's files as a WeightSource, or null when it is not (completely) cached. */
  async open(key: CacheKey): Promise<{ src: WeightSource; manifest: EngineManifest } | null> {
    const dir = await this.models();
    const name = cacheFolder(key);
    let folder: FileSystemDirectoryHandle;
    try {
      folder = await dir.getDirectoryHandle(name);
    } catch {
      return null;
    }
    const found = await readFolder(folder, name);
    if ('problem' in found) {
      await dir.removeEntry(name, { recursive: true }).catch(() => {});
      return null;
    }
    const files = new Map<string, File>();
    for await (const [f, h] of folder.entries())
      if (h.kind === 'file') files.set(f, await (h as FileSystemFileHandle).getFile());
    return {
      src: new MapWeightSource(files, `the offline copy of ${describeKey(key)}`),
      manifest: found.manifest,
    };
  }

  /**
   * Re-hashes a cached model's files against its manifest (size and SHA-256, read as streams): what
   * is missing, short or changed is named. Nothing is removed: the user deletes or downloads again.
   */
  async verify(
    folderName: string,
    onProgress?: (doneBytes: number, totalBytes: number) => void,
    signal?: AbortSignal,
  ): Promise<CacheVerification> {
    const dir = await this.models();
    let folder: FileSystemDirectoryHandle;
    try {
      folder = await dir.getDirectoryHandle(folderName);
    } catch {
      return {
        folder: folderName,
        ok: false,
        checkedBytes: 0,
        problems: [{ file: '', problem: 'not in the cache' }],
      };
    }
    // The manifest alone (readFolder would stop at the first wrong size): every file is reported.
    let manifest: EngineManifest;
    try {
      const text = await (await folder.getFileHandle(ENGINE_MANIFEST)).getFile().then((f) => f.text());
      manifest = parseManifest(JSON.parse(text), folderName);
    } catch (e) {
      const problem = (e as DOMException).name === 'NotFoundError' ? 'missing' : (e as Error).message;
      return {
        folder: folderName,
        ok: false,
        checkedBytes: 0,
        problems: [{ file: ENGINE_MANIFEST, problem }],
      };
    }
    const entries = Object.entries(manifest.files);
    const total = entries.reduce((n, [, e]) => n + e.size, 0);
    const problems: CacheVerification['problems'] = [];
    let done = 0;
    for (const [name, want] of entries) {
      signal?.throwIfAborted();
      let file: File;
      try {
        file = await (await folder.getFileHandle(name)).getFile();
      } catch {
        problems.push({ file: name, problem: 'missing' });
        done += want.size;
        continue;
      }
      if (file.size !== want.size) {
        problems.push({ file: name, problem: `${file.size} bytes, the manifest says ${want.size}` });
        done += want.size;
        onProgress?.(done, total);
        continue;
      }
      const hash = new Sha256();
      const reader = file.stream().getReader();
      for (;;) {
        signal?.throwIfAborted();
        const { done: end, value } = await reader.read();
        if (end) break;
        hash.update(value);
        done += value.byteLength;
        onProgress?.(done, total);
      }
      if (hash.hex() !== want.sha256)
        problems.push({ file: name, problem: 'SHA-256 differs from the manifest' });
    }
    return { folder: folderName, ok: problems.length === 0, checkedBytes: done, problems };
  }

  /** Removes every cached revision of `id` (or one folder by its name); returns how many. */
  async remove(id: string): Promise<number> {
    const dir = await this.models();
    let n = 0;
    for await (const name of dir.keys()) {
      if (name === id || keyOfFolder(name)?.id === id) {
        await dir.removeEntry(name, { recursive: true });
        n++;
      }
    }
    return n;
  }

  /**
   * Converts an opened network checkpoint into the cache (see write) and returns the cached copy.
   */
  async store(
    key: CacheKey,
    ckpt: OpenedCheckpoint,
    model: EngineManifest['model'],
    onProgress?: (doneBytes: number, totalBytes: number) => void,
    signal?: AbortSignal,
    quantizer?: Quantizer,
  ): Promise<{ src: WeightSource; manifest: EngineManifest }> {
    const needed = convertedBytes(ckpt.report.used, ENGINE_Q4) + SMALL_FILES_BYTES;
    return this.write(key, needed, signal, async (sink) => {
      await convertCheckpoint(ckpt, sink, {
        model,
        signal,
        ...(quantizer ? { quantizer } : {}),
        onProgress: (p) => onProgress?.(p.doneBytes, p.totalBytes),
      });
    });
  }

  /**
   * Writes a model's folder with `fill` (which writes the manifest last): checks the space first
   * (refusing with the bytes needed), asks for persistent storage; on any failure (quota, network,
   * a bad file, cancel) removes the folder and rethrows.
   */
  private async write(
    key: CacheKey,
    needed: number,
    signal: AbortSignal | undefined,
    fill: (sink: ConvertSink) => Promise<void>,
  ): Promise<{ src: WeightSource; manifest: EngineManifest }> {
    const space = checkSpace(await this.storage.estimate?.().catch(() => undefined), needed);
    if (!space.ok)
      throw new EngineError(
        'storage-full',
        `${describeKey(key)}: ${space.message}`,
        'Free browser storage (delete cached models or other site data), or load the model from a folder.',
      );
    if (!this.persistAsked) {
      this.persistAsked = true;
      await this.storage.persist?.().catch(() => false);
    }
    signal?.throwIfAborted();
    const dir = await this.models();
    const name = cacheFolder(key);
    await dir.removeEntry(name, { recursive: true }).catch(() => {});
    const folder = await dir.getDirectoryHandle(name, { create: true });
    const sink = opfsSink(folder);
    try {
      await fill(sink);
    } catch (e) {
      await sink.abort();
      await dir.removeEntry(name, { recursive: true }).catch(() => {});
      if (isQuotaError(e))
        throw new EngineError(
          'storage-full',
          `${describeKey(key)}: browser storage ran out while caching the model (it needs about ${(needed / 1e6).toFixed(0)} MB); nothing was kept.`,
          'Free browser storage (delete cached models or other site data) and load it again.',
        );
      throw e;
    }
    return this.reopen(key);
  }

  /**
   * Copies a checkpoint that is already in the converted format (a self-hosted `npm run convert`
   * folder) into the cache as it is: space checked first, each file checked against its manifest
   * size and SHA-256 as it is copied (a bad file fails naming it, and nothing is kept), the manifest
   * written last.
   */
  async storeConverted(
    key: CacheKey,
    ckpt: OpenedCheckpoint,
    onProgress?: (doneBytes: number, totalBytes: number) => void,
    signal?: AbortSignal,
  ): Promise<{ src: WeightSource; manifest: EngineManifest }> {
    const files = Object.entries(ckpt.converted?.manifest.files ?? {});
    const total = files.reduce((n, [, f]) => n + f.size, 0);
    return this.write(key, total, signal, async (sink) => {
      // ckpt.source checks each file's size and hash as its bytes pass.
      const src = ckpt.source;
      let done = 0;
      for (const [name, f] of files) {
        const w = await sink.create(name);
        for (let at = 0; at < f.size; at += COPY_CHUNK) {
          signal?.throwIfAborted();
          const n = Math.min(COPY_CHUNK, f.size - at);
          await w.write(await src.read(name, at, n));
          done += n;
          onProgress?.(done, total);
        }
        await w.close();
      }
      const m = await sink.create(ENGINE_MANIFEST);
      await m.write(await src.read(ENGINE_MANIFEST, 0, await src.size(ENGINE_MANIFEST)));
      await m.close();
    });
  }

  private async reopen(key: CacheKey): Promise<{ src: WeightSource; manifest: EngineManifest }> {
    const opened = await this.open(key);
    if (!opened)
      throw new EngineError(
        'model-invalid',
        `${describeKey(key)}: the offline copy did not check out after writing.`,
        'Load it again.',
      );
    return opened;
  }
}

export function describeKey(key: CacheKey): string {
  return key.revision ? `${key.id}@${key.revision}` : key.id;
}

export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || /quota/i.test((e as Error)?.message ?? '');
}

async function readFolder(
  folder: FileSystemDirectoryHandle,
  label: string,
): Promise<{ manifest: EngineManifest; manifestBytes: number } | { problem: string }> {
  const sizes = new Map<string, number>();
  let text: string | undefined;
  for await (const [f, h] of folder.entries()) {
    if (h.kind !== 'file') continue;
    const file = await (h as FileSystemFileHandle).getFile();
    if (f === ENGINE_MANIFEST) text = await file.text();
    else sizes.set(f, file.size);
  }
  const r = checkCachedFolder(text, sizes, label);
  return 'problem' in r
    ? r
    : { manifest: r.manifest, manifestBytes: new TextEncoder().encode(text).byteLength };
}

/**
 * Files written with createWritable (each goes to a swap file and lands whole on close); `abort`
 * discards the ones still open, so their folder can be removed.
 */
function opfsSink(folder: FileSystemDirectoryHandle): ConvertSink & { abort(): Promise<void> } {
  const open = new Set<FileSystemWritableFileStream>();
  return {
    async create(path) {
      const handle = await folder.getFileHandle(path, { create: true });
      const w = await handle.createWritable();
      open.add(w);
      return {
        write: (b) => w.write(b as Uint8Array<ArrayBuffer>),
        close: async () => {
          await w.close();
          open.delete(w);
        },
      };
    },
    async abort() {
      for (const w of open) await w.abort().catch(() => {});
      open.clear();
    },
  };
}
