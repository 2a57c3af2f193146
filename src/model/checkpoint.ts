/**
 * Opens a checkpoint from any WeightSource: config.json → ModelConfig, generation_config.json,
 * the safetensors headers, and the manifest check — all before a single weight byte is read.
 * The GPU loader then walks `report.used` and calls `load` / `loadRows` per tensor.
 */
import {
  ConfigError,
  type GenerationConfig,
  type ModelConfig,
  parseGenerationConfig,
  parseModelConfig,
} from './config';
import { type LoadedTensor, SafetensorsCheckpoint } from './safetensors';
import { assertWeights, FLOAT_DTYPES, type WeightReport } from './weight-manifest';
import { readText, type WeightSource } from './weight-source';

export interface OpenedCheckpoint {
  source: WeightSource;
  config: ModelConfig;
  /** Absent file → bos/eos from config.json, no sampling hints. */
  generation: GenerationConfig;
  weights: SafetensorsCheckpoint;
  report: WeightReport;
  load(name: string): Promise<LoadedTensor>;
  loadRows(name: string, r0: number, r1: number): Promise<LoadedTensor>;
}

export async function openCheckpoint(src: WeightSource): Promise<OpenedCheckpoint> {
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
  const report = assertWeights(config, weights.tensors.values(), src.label, FLOAT_DTYPES);
  return {
    source: src,
    config,
    generation,
    weights,
    report,
    load: (name) => weights.load(name),
    loadRows: (name, r0, r1) => weights.loadRows(name, r0, r1),
  };
}
