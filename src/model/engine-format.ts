/**
 * The engine's converted format: what `npm run convert` writes and the OPFS cache stores, loaded with
 * no conversion left to do. A folder holds
 *   engine-manifest.json           this format's manifest (EngineManifest): version, the model it came
 *                                  from, the quantization, every other file's size and SHA-256;
 *   model.safetensors.index.json   + shards, as the hub lays them out (SafetensorsCheckpoint reads them);
 *   config.json, generation_config.json and the tokenizer files, copied.
 * Tensors keep the checkpoint's names. A 4-bit weight W [N, K] (ENGINE_Q4, quant/format.ts) is three:
 *   <name>.q4_packed  U32 [N, Kp/8]    <name>.q4_scales  F16 [N, nG]    <name>.q4_mins  F16 [N, nG]
 * 4-bit: the LLM's and connector's Linear weights and the vocabulary tables (embedding, an untied
 * lm_head); the vision tower is F16; everything else (norms, biases, latents) F32, exact from bf16.
 * Unused tensors (SigLIP's last layer and head, rotary buffers) are left out.
 * The 4-bit codes are quantizeQ4Cpu's of the f32 values, which the GPU quantizer at load reproduces
 * bit for bit (load.ts quantizes from f32 too), so a converted folder loads the same weights as the
 * bf16 checkpoint loaded 4-bit.
 */

import { type Q4Options, q4Layout } from '../gpu/kernels/quant/format';
import { isQuantizable, isVocabTable } from './load';
import type { StDtype, TensorEntry } from './safetensors';
import { type FoundTensor, PREFIX } from './weight-manifest';

export const ENGINE_MANIFEST = 'engine-manifest.json';
export const ENGINE_FORMAT = 'video-reasoner-q4';
export const ENGINE_FORMAT_VERSION = 1;

export interface ManifestFile {
  size: number;
  /** Lowercase hex, as sha256sum prints it. */
  sha256: string;
}

export interface EngineManifest {
  format: typeof ENGINE_FORMAT;
  version: number;
  /** Where it was converted from: a hub repo (and the commit its files came from) or a folder/URL. */
  model: { source: string; repo?: string; revision?: string };
  /** ISO time of the conversion. */
  created: string;
  quantization: Required<Pick<Q4Options, 'scheme' | 'groupSize' | 'scaleDtype'>> & {
    /** What the quantizer read: the checkpoint's values widened to f32 (bf16 → f32 is exact). */
    input: 'f32';
    tables: boolean;
  };
  /** Bytes of the source's weight tensors that went in (the bf16 checkpoint's used tensors). */
  sourceWeightBytes: number;
  /** Every file of the folder except this manifest. */
  files: Record<string, ManifestFile>;
}

export const Q4_SUFFIX = { packed: '.q4_packed', scales: '.q4_scales', mins: '.q4_mins' } as const;

/** Whether the converted format stores this tensor 4-bit (with tables: the engine's default). */
export const storedQ4 = (name: string, shape: readonly number[]) =>
  isQuantizable(name, shape) || (isVocabTable(name) && shape.length === 2);

/** The dtype a plain tensor is stored in. */
export const plainDtype = (name: string): StDtype => (name.startsWith(PREFIX.vision) ? 'F16' : 'F32');

/** One tensor of a converted file: name, dtype, shape, bytes. */
export interface PlannedTensor {
  name: string;
  dtype: StDtype;
  shape: number[];
  bytes: number;
  /** The checkpoint tensor it comes from, and which part when 4-bit. */
  source: string;
  part?: keyof typeof Q4_SUFFIX;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The converted tensors of the given used tensors ({name, shape}), in the given order. */
export function planTensors(
  used: readonly { name: string; shape: number[] }[],
  q: Q4Options,
): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  for (const t of used) {
    if (storedQ4(t.name, t.shape)) {
      const L = q4Layout(t.shape[0], t.shape[1], q);
      const sd: StDtype = L.scaleDtype === 'f16' ? 'F16' : 'F32';
      const sb = L.scaleDtype === 'f16' ? 2 : 4;
      const add = (part: keyof typeof Q4_SUFFIX, dtype: StDtype, shape: number[], per: number) =>
        out.push({
          name: t.name + Q4_SUFFIX[part],
          dtype,
          shape,
          bytes: numel(shape) * per,
          source: t.name,
          part,
        });
      add('packed', 'U32', [L.N, L.words], 4);
      add('scales', sd, [L.N, L.groups], sb);
      if (L.scheme === 'asym') add('mins', sd, [L.N, L.groups], sb);
    } else {
      const dtype = plainDtype(t.name);
      out.push({
        name: t.name,
        dtype,
        shape: [...t.shape],
        bytes: numel(t.shape) * (dtype === 'F16' ? 2 : 4),
        source: t.name,
      });
    }
  }
  return out;
}

/** Bytes of a converted checkpoint's tensor data (headers, index and tokenizer add a few MB at most). */
export function convertedBytes(used: readonly { name: string; shape: number[] }[], q: Q4Options): number {
  return planTensors(used, q).reduce((n, t) => n + t.bytes, 0);
}

/** Splits planned tensors into shards of at most `maxBytes` (a tensor is never split). */
export function shardPlan(tensors: PlannedTensor[], maxBytes: number): PlannedTensor[][] {
  const shards: PlannedTensor[][] = [];
  let cur: PlannedTensor[] = [];
  let n = 0;
  for (const t of tensors) {
    if (cur.length && n + t.bytes > maxBytes) {
      shards.push(cur);
      cur = [];
      n = 0;
    }
    cur.push(t);
    n += t.bytes;
  }
  if (cur.length) shards.push(cur);
  return shards;
}

export const shardName = (i: number, n: number) =>
  `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/** A converted tensor's three parts, by the 4-bit weight's name. */
export interface StoredQ4 {
  packed: TensorEntry;
  scales: TensorEntry;
  mins?: TensorEntry;
}

export class EngineFormatError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'EngineFormatError';
  }
}

/** Checks a parsed engine-manifest.json; returns it typed or throws naming what is wrong. */
export function parseManifest(raw: unknown, label: string): EngineManifest {
  const bad = (what: string) =>
    new EngineFormatError(`${ENGINE_MANIFEST} in ${label}: ${what}`, ENGINE_MANIFEST);
  if (typeof raw !== 'object' || raw === null) throw bad('not a JSON object');
  const m = raw as Partial<EngineManifest>;
  if (m.format !== ENGINE_FORMAT)
    throw bad(`format is ${JSON.stringify(m.format)}, expected "${ENGINE_FORMAT}"`);
  if (m.version !== ENGINE_FORMAT_VERSION)
    throw bad(
      `format version ${m.version}; this engine reads version ${ENGINE_FORMAT_VERSION}: convert the model again with this version's npm run convert`,
    );
  const q = m.quantization;
  if (
    !q ||
    (q.scheme !== 'asym' && q.scheme !== 'sym') ||
    !(q.groupSize > 0) ||
    !['f16', 'f32'].includes(q.scaleDtype)
  )
    throw bad('quantization is missing or unknown');
  if (typeof m.files !== 'object' || m.files === null) throw bad('no files');
  for (const [f, e] of Object.entries(m.files))
    if (f.includes('..') || !Number.isSafeInteger(e?.size) || !/^[0-9a-f]{64}$/.test(e?.sha256 ?? ''))
      throw bad(`bad entry for ${f}`);
  if (typeof m.model?.source !== 'string') throw bad('no model.source');
  return m as EngineManifest;
}

/**
 * The logical tensors of a converted checkpoint's entries, for the manifest check (weight-manifest.ts):
 * each 4-bit triple becomes its weight [N, K] (K from the config's expected shape when the parts fit
 * it), plain tensors pass through. Also returns the triples by weight name. Throws naming a part whose
 * dtype or shape does not fit.
 */
export function convertedTensors(
  entries: Iterable<TensorEntry>,
  expected: ReadonlyMap<string, readonly number[]>,
  q: Q4Options,
): { found: FoundTensor[]; q4: Map<string, StoredQ4> } {
  const found: FoundTensor[] = [];
  const parts = new Map<string, Partial<StoredQ4>>();
  for (const e of entries) {
    const part = (Object.keys(Q4_SUFFIX) as (keyof typeof Q4_SUFFIX)[]).find((p) =>
      e.name.endsWith(Q4_SUFFIX[p]),
    );
    if (!part) {
      found.push(e);
      continue;
    }
    const name = e.name.slice(0, -Q4_SUFFIX[part].length);
    const p = parts.get(name) ?? {};
    p[part] = e;
    parts.set(name, p);
  }
  const q4 = new Map<string, StoredQ4>();
  for (const [name, p] of parts) {
    const where = (e?: TensorEntry) => (e ? ` (${e.file})` : '');
    if (!p.packed || !p.scales)
      throw new EngineFormatError(
        `4-bit weight ${name} lacks its ${p.packed ? 'scales' : 'packed codes'}${where(p.packed ?? p.scales)}`,
        (p.packed ?? p.scales ?? p.mins)?.file,
      );
    const want = expected.get(name);
    const N = p.packed.shape[0];
    const words = p.packed.shape[1];
    const K =
      want && want.length === 2 && q4Layout(want[0], want[1], q).words === words ? want[1] : words * 8;
    const L = q4Layout(N, K, q);
    const sd: StDtype = L.scaleDtype === 'f16' ? 'F16' : 'F32';
    const checks: [keyof StoredQ4, StDtype, number[]][] = [
      ['packed', 'U32', [L.N, L.words]],
      ['scales', sd, [L.N, L.groups]],
      ...(L.scheme === 'asym' ? [['mins', sd, [L.N, L.groups]] as [keyof StoredQ4, StDtype, number[]]] : []),
    ];
    for (const [part, dtype, shape] of checks) {
      const e = p[part];
      if (!e)
        throw new EngineFormatError(
          `4-bit weight ${name} lacks its ${part}${where(p.packed)}`,
          p.packed.file,
        );
      if (e.dtype !== dtype || e.shape.join() !== shape.join())
        throw new EngineFormatError(
          `${e.name} in ${e.file} is ${e.dtype} [${e.shape.join(', ')}], expected ${dtype} [${shape.join(', ')}] for ${L.scheme} groups of ${L.groupSize}`,
          e.file,
        );
    }
    found.push({ name, dtype: 'F32', shape: [N, K] });
    q4.set(name, p as StoredQ4);
  }
  return { found, q4 };
}
