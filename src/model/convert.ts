/**
 * Converts an opened bf16/f16/f32 checkpoint into the engine's format (engine-format.ts): 4-bit
 * weights by the CPU quantizer (bit-identical to the GPU's at load), the vision tower f16, the rest
 * f32; shards with an index, the config and tokenizer files copied, and engine-manifest.json (each
 * file's size and SHA-256) written last, so a folder without it is not a converted model. One tensor
 * is in memory at a time (a vocabulary table is read by row blocks). `npm run convert` writes to a
 * folder; the worker's OPFS cache writes the same files.
 */
import type { Q4Host, Q4Options } from '../gpu/kernels/quant/format';
import { quantizeQ4Cpu } from '../gpu/kernels/quant/quantize-cpu';
import type { OpenedCheckpoint } from './checkpoint';
import {
  ENGINE_FORMAT,
  ENGINE_FORMAT_VERSION,
  ENGINE_MANIFEST,
  type EngineManifest,
  type ManifestFile,
  type PlannedTensor,
  planTensors,
  shardName,
  shardPlan,
} from './engine-format';
import { ENGINE_Q4 } from './load';
import { INDEX_FILE } from './safetensors';
import { encodeHeader, encodeIndex } from './safetensors-writer';
import { Sha256 } from './sha256';
import { readOrder } from './sources/read-ahead';
import { toFloat16Bits, toFloat32 } from './weight-convert';

/** Where converted files go: a folder (Node), an OPFS directory, memory (tests). */
export interface ConvertSink {
  create(path: string): Promise<FileWriter>;
}

export interface FileWriter {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface ConvertOptions {
  /** Recorded in the manifest: where the checkpoint came from. */
  model: EngineManifest['model'];
  /** Default ENGINE_Q4 with f16 scales. */
  quantize?: Q4Options;
  /** Largest shard (a tensor is never split); default 1 GiB. */
  shardBytes?: number;
  onProgress?: (p: { tensor: string; doneBytes: number; totalBytes: number }) => void;
  signal?: AbortSignal;
  /**
   * The 4-bit quantizer of a row block W [N, K] (f32). Default quantizeQ4Cpu; the worker passes the GPU
   * quantizer, whose output is the same bit for bit (quant/quantize.test.ts) and much faster.
   */
  quantizer?: Quantizer;
}

export type Quantizer = (w: Float32Array, N: number, K: number, q: Q4Options) => Promise<Q4Host>;

const cpuQuantizer: Quantizer = async (w, N, K, q) => quantizeQ4Cpu(w, N, K, q);

/** Files copied as they are when present (the tokenizer in either layout, configs). */
export const COPIED_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'special_tokens_map.json',
];

/** f32 bytes of a row block quantized at once (bounds host memory, and fits a GPU binding). */
const BLOCK_BYTES = 32 << 20;

export async function convertCheckpoint(
  ckpt: OpenedCheckpoint,
  sink: ConvertSink,
  opts: ConvertOptions,
): Promise<EngineManifest> {
  if (ckpt.converted) throw new Error(`${ckpt.source.label} is already in the engine's converted format`);
  const q = { scaleDtype: 'f16' as const, ...ENGINE_Q4, ...opts.quantize };
  const { signal } = opts;
  const quantizer = opts.quantizer ?? cpuQuantizer;
  // A few source shards at a time, each read front to back (sources/read-ahead.ts), which also
  // decides the converted files' tensor order.
  const entry = (name: string) => ckpt.weights.entry(name);
  const used = readOrder(ckpt.report.used, (t) => entry(t.name));
  const sourceWeightBytes = used.reduce((n, t) => n + entry(t.name).end - entry(t.name).start, 0);
  const shards = shardPlan(planTensors(used, q), opts.shardBytes ?? 2 ** 30);
  const totalBytes = shards.flat().reduce((n, t) => n + t.bytes, 0);
  const files: Record<string, ManifestFile> = {};
  const weightMap: Record<string, string> = {};
  let doneBytes = 0;
  // The 4-bit form of the tensor being written (its parts may fall in two shards).
  let current: { source: string; q4: Q4Host } | undefined;
  const q4Of = async (source: string, shape: number[]) => {
    if (current?.source !== source)
      current = { source, q4: await quantizeTensor(ckpt, source, shape, q, quantizer) };
    return current.q4;
  };
  const shapeOf = new Map(used.map((t) => [t.name, t.shape]));
  for (const [i, shard] of shards.entries()) {
    const file = shardName(i, shards.length);
    const header: Record<string, unknown> = {
      __metadata__: { format: ENGINE_FORMAT, version: String(ENGINE_FORMAT_VERSION) },
    };
    let offset = 0;
    for (const t of shard) {
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes] };
      offset += t.bytes;
      weightMap[t.name] = file;
    }
    const out = await hashed(sink, file);
    await out.write(encodeHeader(header));
    for (const t of shard) {
      signal?.throwIfAborted();
      const bytes = await tensorBytes(ckpt, t, () => q4Of(t.source, shapeOf.get(t.source)!));
      if (bytes.byteLength !== t.bytes)
        throw new Error(`convert: ${t.name} came out ${bytes.byteLength} bytes, planned ${t.bytes}`);
      await out.write(bytes);
      doneBytes += t.bytes;
      opts.onProgress?.({ tensor: t.name, doneBytes, totalBytes });
    }
    files[file] = await out.close();
  }
  const index = await hashed(sink, INDEX_FILE);
  await index.write(new TextEncoder().encode(encodeIndex(weightMap, totalBytes)));
  files[INDEX_FILE] = await index.close();
  for (const name of COPIED_FILES) {
    if (!(await ckpt.source.has(name))) continue;
    const f = await hashed(sink, name);
    await f.write(await ckpt.source.read(name, 0, await ckpt.source.size(name)));
    files[name] = await f.close();
  }
  const manifest: EngineManifest = {
    format: ENGINE_FORMAT,
    version: ENGINE_FORMAT_VERSION,
    model: opts.model,
    created: new Date().toISOString(),
    quantization: {
      scheme: q.scheme ?? 'asym',
      groupSize: q.groupSize ?? 32,
      scaleDtype: q.scaleDtype,
      input: 'f32',
      tables: true,
    },
    sourceWeightBytes,
    files,
  };
  const m = await sink.create(ENGINE_MANIFEST);
  await m.write(new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  await m.close();
  return manifest;
}

/** A converted tensor's bytes: a 4-bit part, or the plain tensor in its stored dtype. */
async function tensorBytes(
  ckpt: OpenedCheckpoint,
  t: PlannedTensor,
  q4: () => Promise<Q4Host>,
): Promise<Uint8Array> {
  const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (t.part) {
    const h = await q4();
    if (t.part === 'packed') return bytesOf(h.packed);
    const v = t.part === 'scales' ? h.scales : (h.mins as Float32Array);
    return bytesOf(t.dtype === 'F16' ? toFloat16Bits({ name: t.name, dtype: 'F32', bytes: bytesOf(v) }) : v);
  }
  const src = await ckpt.load(t.source);
  return bytesOf(t.dtype === 'F16' ? toFloat16Bits(src) : toFloat32(src));
}

/** The 4-bit form of a [N, K] tensor's f32 values, read by row blocks (rows are quantized independently). */
async function quantizeTensor(
  ckpt: OpenedCheckpoint,
  name: string,
  shape: number[],
  q: Q4Options,
  quantizer: Quantizer,
): Promise<Q4Host> {
  const [N, K] = shape;
  const rows = Math.max(1, Math.floor(BLOCK_BYTES / (4 * K)));
  let out: Q4Host | undefined;
  for (let r = 0; r < N; r += rows) {
    const r1 = Math.min(N, r + rows);
    const part = await quantizer(toFloat32(await ckpt.loadRows(name, r, r1)), r1 - r, K, q);
    if (r === 0 && r1 === N) return part;
    if (!out) {
      const words = part.packed.length / (r1 - r);
      const groups = part.scales.length / (r1 - r);
      out = {
        ...part,
        N,
        packed: new Uint32Array(N * words),
        scales: new Float32Array(N * groups),
        ...(part.mins ? { mins: new Float32Array(N * groups) } : {}),
      };
    }
    const words = out.packed.length / N;
    const groups = out.scales.length / N;
    out.packed.set(part.packed, r * words);
    out.scales.set(part.scales, r * groups);
    if (part.mins) out.mins?.set(part.mins, r * groups);
  }
  return out as Q4Host;
}

/** A sink file whose size and SHA-256 are counted as it is written. */
async function hashed(sink: ConvertSink, path: string) {
  const w = await sink.create(path);
  const h = new Sha256();
  let size = 0;
  return {
    async write(b: Uint8Array) {
      h.update(b);
      size += b.byteLength;
      await w.write(b);
    },
    async close(): Promise<ManifestFile> {
      await w.close();
      return { size, sha256: h.hex() };
    },
  };
}
