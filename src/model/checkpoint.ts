/**
 * Opens a checkpoint from any WeightSource: config.json → ModelConfig, generation_config.json,
 * the safetensors headers, and the manifest check — all before a single weight byte is read.
 * The GPU loader then walks `report.used` and calls `load` / `loadRows` per tensor.
 * A folder in the engine's converted format (an engine-manifest.json, engine-format.ts) is read
 * through a VerifiedSource: every file's size and SHA-256 are checked against the manifest as it is read.
 */
import {
  ConfigError,
  type GenerationConfig,
  type ModelConfig,
  parseGenerationConfig,
  parseModelConfig,
} from './config';
import {
  convertedTensors,
  ENGINE_MANIFEST,
  type EngineManifest,
  parseManifest,
  type StoredQ4,
} from './engine-format';
import { type LoadedTensor, SafetensorsCheckpoint, type TensorEntry } from './safetensors';
import { VerifiedSource } from './sources/verified';
import {
  assertWeights,
  expectedTensors,
  FLOAT_DTYPES,
  type FoundTensor,
  type WeightReport,
} from './weight-manifest';
import { readJson, readText, type WeightSource } from './weight-source';

/** A checkpoint in the engine's converted format: its manifest and its 4-bit weights' parts. */
export interface ConvertedCheckpoint {
  manifest: EngineManifest;
  q4: ReadonlyMap<string, StoredQ4>;
  /** Reads and checks the files (or their parts) the load did not read; throws naming a bad file. */
  verify(signal?: AbortSignal): Promise<void>;
}

export interface OpenedCheckpoint {
  source: WeightSource;
  config: ModelConfig;
  /** Absent file → bos/eos from config.json, no sampling hints. */
  generation: GenerationConfig;
  weights: SafetensorsCheckpoint;
  report: WeightReport;
  /** Set for a folder in the engine's converted format. */
  converted?: ConvertedCheckpoint;
  /** The file ranges the upload reads, in file order (every part of a 4-bit weight). */
  usedEntries(): TensorEntry[];
  load(name: string): Promise<LoadedTensor>;
  loadRows(name: string, r0: number, r1: number): Promise<LoadedTensor>;
}

/** `trusted`: a converted folder this engine wrote and completed itself (OPFS): sizes are checked, not hashes. */
export async function openCheckpoint(
  given: WeightSource,
  opts: { trusted?: boolean } = {},
): Promise<OpenedCheckpoint> {
  const manifest = (await given.has(ENGINE_MANIFEST))
    ? parseManifest(await readJson(given, ENGINE_MANIFEST), given.label)
    : undefined;
  const verified = manifest
    ? new VerifiedSource(given, manifest.files, { hashes: !opts.trusted })
    : undefined;
  const src = verified ?? given;
  if (!(await src.has('config.json')))
    throw new ConfigError(
      'invalid',
      `no config.json in ${src.label}: is this a TinyLLaVA-Video checkpoint folder?`,
    );
  const config = parseModelConfig(await readText(src, 'config.json'));
  const generation = (await src.has('generation_config.json'))
    ? parseGenerationConfig(await readText(src, 'generation_config.json'))
    : {
        bosTokenId: config.bosTokenId,
        eosTokenIds: config.eosTokenId === undefined ? [] : [config.eosTokenId],
        padTokenId: config.padTokenId,
        doSample: undefined,
        temperature: undefined,
        topP: undefined,
        topK: undefined,
        maxNewTokens: undefined,
      };
  const weights = await SafetensorsCheckpoint.open(src);
  let found: Iterable<FoundTensor> = weights.tensors.values();
  let converted: ConvertedCheckpoint | undefined;
  if (manifest && verified) {
    const expected = new Map(expectedTensors(config).map((e) => [e.name, e.shape]));
    const c = convertedTensors(weights.tensors.values(), expected, manifest.quantization);
    found = c.found;
    converted = { manifest, q4: c.q4, verify: (signal) => verified.finish(signal) };
  }
  const report = assertWeights(config, found, src.label, FLOAT_DTYPES);
  const usedEntries = () => {
    const out: TensorEntry[] = [];
    for (const t of report.used) {
      const q = converted?.q4.get(t.name);
      if (q) out.push(q.packed, q.scales, ...(q.mins ? [q.mins] : []));
      else out.push(weights.entry(t.name));
    }
    return out.sort((a, b) => (a.file === b.file ? a.start - b.start : a.file < b.file ? -1 : 1));
  };
  return {
    source: src,
    config,
    generation,
    weights,
    report,
    ...(converted ? { converted } : {}),
    usedEntries,
    load: (name) => weights.load(name),
    loadRows: (name, r0, r1) => weights.loadRows(name, r0, r1),
  };
}
