/**
 * The model layer's errors (config, safetensors, manifest, weight source, tokenizer, sampling) as
 * EngineErrors: a kind the UI switches on, the layer's own message (it names the file or tensor),
 * and a hint saying what to do.
 */

import { EngineError, toEngineError } from '../engine-client/protocol';
import { ConfigError } from '../model/config';
import { EngineFormatError } from '../model/engine-format';
import { SafetensorsError } from '../model/safetensors';
import { TokenizerError } from '../model/tokenizer';
import { WeightManifestError } from '../model/weight-manifest';
import { WeightSourceError } from '../model/weight-source';

const REDOWNLOAD = 'Download the checkpoint again, or pick a complete TinyLLaVA-Video folder.';

export function modelError(e: unknown, source = 'the checkpoint'): EngineError {
  if (e instanceof EngineError) return e;
  if (e instanceof ConfigError) {
    if (e.code === 'invalid' && e.message.startsWith('no config.json'))
      return new EngineError(
        'model-not-found',
        e.message,
        'Point to the folder (or URL) that holds config.json, the safetensors files and the tokenizer.',
      );
    const where = e.key ? ` (config.json key ${e.key})` : '';
    if (e.code === 'unknown-model-type' || e.code === 'unknown-connector' || e.code === 'unsupported')
      return new EngineError(
        'model-unsupported',
        `${source}: ${e.message}${where}`,
        'This app runs TinyLLaVA-Video checkpoints (model_type "tinyllava", a Qwen2 language model, the group resampler).',
      );
    return new EngineError(
      'model-invalid',
      `${source}: ${e.message}${where}`,
      'Check or replace config.json.',
    );
  }
  if (e instanceof WeightManifestError)
    return new EngineError(
      'model-invalid',
      e.message,
      'The weights do not fit this config.json: the checkpoint is incomplete, converted wrongly, or the config belongs to another model. ' +
        REDOWNLOAD,
    );
  if (e instanceof SafetensorsError) {
    if (e.code === 'truncated')
      return new EngineError(
        'model-invalid',
        e.message,
        `Download ${e.file ?? 'the shard'} again: it is incomplete.`,
      );
    return new EngineError('model-invalid', e.message, REDOWNLOAD);
  }
  if (e instanceof EngineFormatError)
    return new EngineError(
      'model-invalid',
      e.message,
      'Convert the checkpoint again with this version (npm run convert), or load the bf16 checkpoint.',
    );
  if (e instanceof WeightSourceError) {
    switch (e.code) {
      case 'not-found':
        return new EngineError(
          'model-not-found',
          e.message,
          e.path === 'config.json'
            ? 'Point to the folder (or URL) that holds config.json, the safetensors files and the tokenizer.'
            : `The checkpoint lacks ${e.path}. ${REDOWNLOAD}`,
        );
      case 'network':
      case 'http':
        return new EngineError(
          'network',
          e.message,
          'Check the URL and the connection; a server on another origin must allow CORS.',
        );
      case 'no-range':
        return new EngineError(
          'network',
          e.message,
          'Serve the checkpoint from a server that supports HTTP Range requests (the hub, or most static servers).',
        );
      default:
        return new EngineError('model-invalid', e.message, REDOWNLOAD);
    }
  }
  if (e instanceof TokenizerError)
    return new EngineError(
      'model-invalid',
      `${source}: tokenizer: ${e.message}`,
      'Add tokenizer.json (or vocab.json + merges.txt) and tokenizer_config.json of Qwen2.5 to the checkpoint.',
    );
  if (isAbort(e)) return new EngineError('cancelled', 'Loading was cancelled.', '');
  return toEngineError(e);
}

/** Invalid sampling settings and the like. */
export function requestError(e: unknown): EngineError {
  if (e instanceof RangeError)
    return new EngineError('bad-request', e.message, 'Fix the setting and ask again.');
  return toEngineError(e);
}

export function isAbort(e: unknown): boolean {
  return (e as { name?: string } | null)?.name === 'AbortError';
}
