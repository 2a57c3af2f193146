/**
 * The offline model cache's rules, apart from OPFS (src/worker/model-cache.ts holds the storage): a
 * model is cached in the engine's converted format (engine-format.ts), one folder per id + revision.
 *   <root>/models/<folder>/   the converted files, engine-manifest.json written LAST: a folder is a
 *                             complete cached model only when its manifest parses, names this format
 *                             version, and every file it lists is there with the listed size.
 * Anything else under models/ (a write cut short by a quota error, a crash, a closed tab; an older
 * format version) is not a model: listing reports it as stale and the cache removes it.
 */
import { ENGINE_MANIFEST, type EngineManifest, parseManifest } from './engine-format';

export const CACHE_DIR = 'models';

/** What identifies a cached model: a hub repo id or a base URL, and the revision asked for. */
export interface CacheKey {
  id: string;
  /** The revision as asked (a branch, tag or commit); '' for a URL. */
  revision: string;
}

/** A cached model as the protocol's cachedModels() lists it. */
export interface CachedModel {
  id: string;
  revision: string;
  /** The commit the hub named when it was downloaded, when known. */
  commit?: string;
  /** Bytes on disk (every file, the manifest included). */
  bytes: number;
  /** When it was written (ISO). */
  when: string;
  folder: string;
}

/** What re-verifying a cached model found (protocol: verifyCachedModel). */
export interface CacheVerification {
  folder: string;
  ok: boolean;
  checkedBytes: number;
  /** Each file that is missing, of the wrong size or hash ('' for the folder itself). */
  problems: { file: string; problem: string }[];
}

/** One folder name per key; no '/' (OPFS names cannot hold one), reversible. */
export function cacheFolder(key: CacheKey): string {
  return encodeURIComponent(`${key.id}@${key.revision}`);
}

export function keyOfFolder(folder: string): CacheKey | undefined {
  let s: string;
  try {
    s = decodeURIComponent(folder);
  } catch {
    return undefined;
  }
  const at = s.lastIndexOf('@');
  return at < 0 ? undefined : { id: s.slice(0, at), revision: s.slice(at + 1) };
}

/**
 * Whether a folder holds a complete cached model: its manifest text (undefined when absent) and the
 * sizes of the files in it. Returns the manifest, or the reason it is not one.
 */
export function checkCachedFolder(
  manifestText: string | undefined,
  sizes: ReadonlyMap<string, number>,
  label: string,
): { manifest: EngineManifest } | { problem: string } {
  if (manifestText === undefined) return { problem: `${label}: no ${ENGINE_MANIFEST} (an unfinished write)` };
  let manifest: EngineManifest;
  try {
    manifest = parseManifest(JSON.parse(manifestText), label);
  } catch (e) {
    return { problem: (e as Error).message };
  }
  for (const [file, want] of Object.entries(manifest.files)) {
    const got = sizes.get(file);
    if (got !== want.size)
      return {
        problem: `${label}: ${file} is ${got === undefined ? 'missing' : `${got} bytes, not ${want.size}`}`,
      };
  }
  return { manifest };
}

export function describeCached(folder: string, manifest: EngineManifest, manifestBytes: number): CachedModel {
  const key = keyOfFolder(folder);
  const commit = manifest.model.revision;
  return {
    id: key?.id ?? manifest.model.source,
    revision: key?.revision ?? '',
    ...(commit && commit !== key?.revision ? { commit } : {}),
    bytes: Object.values(manifest.files).reduce((n, f) => n + f.size, manifestBytes),
    when: manifest.created,
    folder,
  };
}

/** navigator.storage.estimate()'s answer (fields may be missing). */
export interface StorageEstimateLike {
  quota?: number;
  usage?: number;
}

/** Head room kept beyond the planned bytes (the estimate is approximate; other writes go on). */
export const SPACE_MARGIN = 1.05;

export interface SpaceCheck {
  ok: boolean;
  needed: number;
  /** quota − usage, or Infinity when the browser does not say. */
  available: number;
  /** For the user when not ok. */
  message?: string;
}

const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;

/** Whether `needed` bytes fit what the browser's estimate leaves, with SPACE_MARGIN. */
export function checkSpace(est: StorageEstimateLike | undefined, needed: number): SpaceCheck {
  if (est?.quota === undefined) return { ok: true, needed, available: Number.POSITIVE_INFINITY };
  const available = Math.max(0, est.quota - (est.usage ?? 0));
  const want = Math.ceil(needed * SPACE_MARGIN);
  if (available >= want) return { ok: true, needed, available };
  return {
    ok: false,
    needed,
    available,
    message: `Caching this model offline needs ${mb(want)} of browser storage; ${mb(available)} is free.`,
  };
}
