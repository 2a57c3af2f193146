/**
 * safetensors reader over a WeightSource. Format: 8-byte little-endian header length N, N bytes of
 * JSON {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then raw row-major data;
 * offsets are relative to the end of the header. Sharded checkpoints list tensor → file in
 * model.safetensors.index.json (`weight_map`). Only headers are read up front; tensors are read
 * one by one (or in row ranges), so a multi-GB shard is never in memory whole.
 */
import type { WeightSource } from './weight-source';
import { readJson } from './weight-source';

export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type StDtype = keyof typeof DTYPE_BYTES;

export interface TensorEntry {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** The file holding it, relative to the source. */
  file: string;
  /** Absolute byte range in that file. */
  start: number;
  end: number;
}

export interface LoadedTensor {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Raw little-endian bytes, byteOffset 0 (so typed-array views line up). */
  bytes: Uint8Array;
}

export type SafetensorsErrorCode = 'bad-header' | 'truncated' | 'bad-index' | 'no-weights' | 'unknown-tensor';

export class SafetensorsError extends Error {
  readonly code: SafetensorsErrorCode;
  readonly file: string | undefined;
  readonly tensor: string | undefined;
  constructor(code: SafetensorsErrorCode, message: string, file?: string, tensor?: string) {
    super(message);
    this.name = 'SafetensorsError';
    this.code = code;
    this.file = file;
    this.tensor = tensor;
  }
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
/** Real headers are ~100 KB for a 3B model; refuse absurd lengths before allocating. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** The first read also fetches this much of the header, saving a round trip over HTTP. */
const FIRST_READ = 256 * 1024;

export interface ShardHeader {
  file: string;
  fileSize: number;
  /** Where the data section starts (8 + header length). */
  dataStart: number;
  metadata: Record<string, string>;
  entries: TensorEntry[];
}

/** Parses and checks one header; `fileSize` lets it name tensors whose data lies past the end. */
export function parseHeader(
  json: Uint8Array,
  file: string,
  headerLen: number,
  fileSize: number,
): ShardHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(json));
  } catch (e) {
    throw new SafetensorsError(
      'bad-header',
      `${file}: header is not valid JSON (${(e as Error).message})`,
      file,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new SafetensorsError('bad-header', `${file}: header is not a JSON object`, file);
  const dataStart = 8 + headerLen;
  const entries: TensorEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      // The format (and the reference reader) allows only a string → string map, or null.
      const ok =
        v === null ||
        (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string'));
      if (!ok)
        throw new SafetensorsError(
          'bad-header',
          `${file}: __metadata__ must map strings to strings, got ${JSON.stringify(v).slice(0, 80)}`,
          file,
        );
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    entries.push(parseEntry(name, v, file, dataStart));
  }
  // Data must fit in the file, and tensors must not overlap.
  const sorted = [...entries].sort((a, b) => a.start - b.start);
  let prevEnd = dataStart;
  let prevName = '';
  for (const e of sorted) {
    if (e.start < prevEnd)
      throw new SafetensorsError(
        'bad-header',
        `${file}: tensors ${prevName} and ${e.name} overlap`,
        file,
        e.name,
      );
    prevEnd = e.end;
    prevName = e.name;
  }
  const past = sorted.filter((e) => e.end > fileSize);
  if (past.length > 0)
    throw new SafetensorsError(
      'truncated',
      `${file} is truncated: it has ${fileSize} bytes but tensor ${past[0].name} ends at byte ${past[0].end}` +
        (past.length > 1 ? ` (${past.length} tensors lie past the end)` : '') +
        ' — the download is incomplete; fetch the file again',
      file,
      past[0].name,
    );
  return { file, fileSize, dataStart, metadata, entries };
}

function parseEntry(name: string, v: unknown, file: string, dataStart: number): TensorEntry {
  const bad = (why: string) =>
    new SafetensorsError('bad-header', `${file}: tensor ${name}: ${why}`, file, name);
  if (typeof v !== 'object' || v === null) throw bad('entry is not an object');
  const { dtype, shape, data_offsets: off } = v as { dtype: unknown; shape: unknown; data_offsets: unknown };
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES))
    throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw bad(`bad shape ${JSON.stringify(shape)}`);
  if (
    !Array.isArray(off) ||
    off.length !== 2 ||
    !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
    off[1] < off[0]
  )
    throw bad(`bad data_offsets ${JSON.stringify(off)}`);
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = numel * DTYPE_BYTES[dtype as StDtype];
  if (off[1] - off[0] !== bytes)
    throw bad(`data_offsets span ${off[1] - off[0]} bytes, shape × dtype needs ${bytes}`);
  return {
    name,
    dtype: dtype as StDtype,
    shape: shape as number[],
    file,
    start: dataStart + off[0],
    end: dataStart + off[1],
  };
}

/** Reads one file's header: at most two reads (a speculative first chunk, then the rest). */
export async function readShardHeader(src: WeightSource, file: string): Promise<ShardHeader> {
  const fileSize = await src.size(file);
  if (fileSize < 8)
    throw new SafetensorsError(
      'truncated',
      `${file} is truncated: ${fileSize} bytes, not even a header length`,
      file,
    );
  const first = await src.read(file, 0, Math.min(fileSize, FIRST_READ));
  const lenBig = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (lenBig > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(
      'bad-header',
      `${file}: header length ${lenBig} is implausible (not a safetensors file?)`,
      file,
    );
  const headerLen = Number(lenBig);
  if (8 + headerLen > fileSize)
    throw new SafetensorsError(
      'truncated',
      `${file} is truncated: its header needs ${8 + headerLen} bytes, the file has ${fileSize}`,
      file,
    );
  const json =
    8 + headerLen <= first.byteLength ? first.subarray(8, 8 + headerLen) : await src.read(file, 8, headerLen);
  return parseHeader(json, file, headerLen, fileSize);
}

/**
 * All tensors of a checkpoint (one file or shards), by name. Opening reads the index and every
 * shard's header; nothing else.
 */
export class SafetensorsCheckpoint {
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  readonly shards: readonly ShardHeader[];

  private constructor(
    private readonly src: WeightSource,
    shards: ShardHeader[],
    tensors: Map<string, TensorEntry>,
  ) {
    this.shards = shards;
    this.tensors = tensors;
  }

  /**
   * Finds the weights: model.safetensors.index.json, else model.safetensors, else (sources that can
   * list) every *.safetensors file.
   */
  static async open(src: WeightSource): Promise<SafetensorsCheckpoint> {
    if (await src.has(INDEX_FILE)) return SafetensorsCheckpoint.openIndexed(src);
    if (await src.has(SINGLE_FILE)) return SafetensorsCheckpoint.openFiles(src, [SINGLE_FILE]);
    const listed = (await src.list())?.filter((p) => p.endsWith('.safetensors')).sort();
    if (listed && listed.length > 0) return SafetensorsCheckpoint.openFiles(src, listed);
    throw new SafetensorsError(
      'no-weights',
      `no weights in ${src.label}: expected ${INDEX_FILE} or ${SINGLE_FILE}` +
        (listed ? ' or any .safetensors file' : ''),
    );
  }

  static async openFiles(src: WeightSource, files: string[]): Promise<SafetensorsCheckpoint> {
    const shards = await Promise.all(files.map((f) => readShardHeader(src, f)));
    const tensors = new Map<string, TensorEntry>();
    for (const s of shards)
      for (const e of s.entries) {
        const prev = tensors.get(e.name);
        if (prev)
          throw new SafetensorsError(
            'bad-index',
            `tensor ${e.name} is in both ${prev.file} and ${e.file}`,
            e.file,
            e.name,
          );
        tensors.set(e.name, e);
      }
    return new SafetensorsCheckpoint(src, shards, tensors);
  }

  private static async openIndexed(src: WeightSource): Promise<SafetensorsCheckpoint> {
    const index = (await readJson(src, INDEX_FILE)) as { weight_map?: unknown };
    const map = index?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      throw new SafetensorsError('bad-index', `${INDEX_FILE} has no weight_map object`, INDEX_FILE);
    const weightMap = map as Record<string, unknown>;
    const files = [...new Set(Object.values(weightMap))];
    for (const f of files)
      if (typeof f !== 'string' || f.includes('..'))
        throw new SafetensorsError(
          'bad-index',
          `${INDEX_FILE}: bad shard name ${JSON.stringify(f)}`,
          INDEX_FILE,
        );
    for (const f of files as string[])
      if (!(await src.has(f)))
        throw new SafetensorsError(
          'bad-index',
          `shard ${f} named in ${INDEX_FILE} is missing from ${src.label}`,
          f,
        );
    const ckpt = await SafetensorsCheckpoint.openFiles(src, (files as string[]).sort());
    // The index and the headers must agree both ways.
    for (const [name, file] of Object.entries(weightMap)) {
      const e = ckpt.tensors.get(name);
      if (!e || e.file !== file)
        throw new SafetensorsError(
          'bad-index',
          `${INDEX_FILE} puts ${name} in ${file}, but ${e ? `it is in ${e.file}` : 'no shard has it'}`,
          file as string,
          name,
        );
    }
    for (const e of ckpt.tensors.values())
      if (!(e.name in weightMap))
        throw new SafetensorsError(
          'bad-index',
          `${e.file} holds ${e.name}, which ${INDEX_FILE} does not list`,
          e.file,
          e.name,
        );
    return ckpt;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  entry(name: string): TensorEntry {
    const e = this.tensors.get(name);
    if (!e)
      throw new SafetensorsError('unknown-tensor', `the checkpoint has no tensor ${name}`, undefined, name);
    return e;
  }

  /** One tensor's bytes (one range read). */
  async load(name: string): Promise<LoadedTensor> {
    const e = this.entry(name);
    const bytes = await this.src.read(e.file, e.start, e.end - e.start);
    return { name, dtype: e.dtype, shape: [...e.shape], bytes: aligned(bytes) };
  }

  /**
   * Rows [r0, r1) of the first dimension: lets a loader upload a huge tensor (the 151936 × 2048
   * embedding) in bindable slices without holding it whole.
   */
  async loadRows(name: string, r0: number, r1: number): Promise<LoadedTensor> {
    const e = this.entry(name);
    const rows = e.shape[0] ?? 1;
    if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 <= r1 && r1 <= rows))
      throw new RangeError(`${name}: rows [${r0}, ${r1}) outside [0, ${rows})`);
    const rowBytes = (e.end - e.start) / Math.max(rows, 1);
    const bytes = await this.src.read(e.file, e.start + r0 * rowBytes, (r1 - r0) * rowBytes);
    return { name, dtype: e.dtype, shape: [r1 - r0, ...e.shape.slice(1)], bytes: aligned(bytes) };
  }

  /** Tensors one at a time in file order (sequential reads), each released by the caller after use. */
  async *stream(names: Iterable<string> = this.tensors.keys()): AsyncGenerator<LoadedTensor> {
    const list = [...names].map((n) => this.entry(n));
    list.sort((a, b) => (a.file === b.file ? a.start - b.start : a.file < b.file ? -1 : 1));
    for (const e of list) yield await this.load(e.name);
  }
}

/** Typed-array views need an aligned byteOffset; sources return fresh buffers, but be sure. */
function aligned(b: Uint8Array): Uint8Array {
  return b.byteOffset % 8 === 0 ? b : b.slice();
}
