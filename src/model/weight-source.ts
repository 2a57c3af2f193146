/**
 * Where a checkpoint's files come from: the hub or a self-hosted copy over HTTP (range requests), a
 * folder or files the user picked, bytes in memory (tests, fixtures). Everything above this
 * interface reads byte ranges, so a multi-GB shard is never held whole.
 * Implementations: sources/http.ts, and sources/map.ts (bytes in memory, or picked files: sources/files.ts).
 */
export interface WeightSource {
  /** For messages: the base URL, "picked files", … */
  readonly label: string;
  /** Relative paths of every file, or undefined when the source cannot enumerate (HTTP). */
  list(): Promise<string[] | undefined>;
  has(path: string): Promise<boolean>;
  /** Size in bytes; rejects with WeightSourceError('not-found') when absent. */
  size(path: string): Promise<number>;
  /** Exactly `length` bytes from `offset`; rejects with 'short-read' when the file ends first. */
  read(path: string, offset: number, length: number): Promise<Uint8Array>;
}

export type WeightSourceErrorCode = 'not-found' | 'http' | 'no-range' | 'short-read' | 'network' | 'invalid';

export class WeightSourceError extends Error {
  readonly code: WeightSourceErrorCode;
  readonly path: string;
  constructor(code: WeightSourceErrorCode, path: string, message: string) {
    super(message);
    this.name = 'WeightSourceError';
    this.code = code;
    this.path = path;
  }
}

/**
 * Text files are read whole; a real one is at most a few MB (Qwen's tokenizer.json: 7 MB). A server
 * claiming more is refused before anything is allocated.
 */
export const MAX_TEXT_FILE_BYTES = 64 * 2 ** 20;

/** The whole file as text (for small files: configs, index, tokenizer). */
export async function readText(src: WeightSource, path: string): Promise<string> {
  const n = await src.size(path);
  if (n > MAX_TEXT_FILE_BYTES)
    throw new WeightSourceError(
      'invalid',
      path,
      `${path} in ${src.label} is ${n} bytes: more than the ${MAX_TEXT_FILE_BYTES / 2 ** 20} MiB a text file of a checkpoint may have`,
    );
  return new TextDecoder().decode(await src.read(path, 0, n));
}

export async function readJson(src: WeightSource, path: string): Promise<unknown> {
  const text = await readText(src, path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new WeightSourceError(
      'short-read',
      path,
      `${path} in ${src.label} is not valid JSON: ${(e as Error).message}`,
    );
  }
}

/** Checks a read returned what was asked; sources share it so the message is the same everywhere. */
export function expectLength(
  src: WeightSource,
  path: string,
  offset: number,
  length: number,
  got: number,
): void {
  if (got !== length)
    throw new WeightSourceError(
      'short-read',
      path,
      `${path} in ${src.label}: asked for ${length} bytes at offset ${offset}, got ${got} (file truncated?)`,
    );
}
