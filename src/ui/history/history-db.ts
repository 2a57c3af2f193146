/**
 * Questions and answers kept across reloads, per video, in IndexedDB (this browser only). Plain
 * IndexedDB: one object store keyed by an auto id, indexed by the video's key. Every call may fail
 * (private modes, a full quota): callers show the history as unavailable and lose nothing else.
 */

export interface HistoryEntry {
  id?: number;
  /** Which video: its name, size and duration (the same file dropped again finds its history). */
  videoKey: string;
  question: string;
  options: string[];
  /** The model's whole output, its answer text and the option letter read from it. */
  text: string;
  answer: string;
  option: string | null;
  model: string;
  /** ms since the epoch. */
  at: number;
}

const DB = 'video-reasoner';
const STORE = 'history';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
      store.createIndex('videoKey', 'videoKey');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run<T>(
  mode: IDBTransactionMode,
  body: (s: IDBObjectStore) => IDBRequest<T> | undefined,
): Promise<T | undefined> {
  const db = await open();
  try {
    return await new Promise<T | undefined>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = body(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export async function addEntry(e: HistoryEntry): Promise<void> {
  await run('readwrite', (s) => s.add(e));
}

/** A video's entries, newest first. */
export async function entriesFor(videoKey: string): Promise<HistoryEntry[]> {
  const all = (await run<HistoryEntry[]>('readonly', (s) => s.index('videoKey').getAll(videoKey))) ?? [];
  return all.sort((a, b) => b.at - a.at);
}

export async function clearFor(videoKey: string): Promise<void> {
  await run('readwrite', (s) => {
    const req = s.index('videoKey').openCursor(videoKey);
    req.onsuccess = () => {
      const c = req.result;
      if (c) {
        c.delete();
        c.continue();
      }
    };
  });
}

/** The key of a video's history; 'text' for questions asked without one. */
export function videoKeyOf(
  facts: { name: string; sizeBytes: number | null; durationS: number } | null,
): string {
  return facts ? `${facts.name}|${facts.sizeBytes ?? '?'}|${facts.durationS.toFixed(3)}` : 'text';
}
