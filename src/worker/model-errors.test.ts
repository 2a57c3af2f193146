import { describe, expect, it } from 'vitest';
import { EngineError } from '../engine-client/protocol';
import { GpuError } from '../gpu/errors';
import { ConfigError } from '../model/config';
import { SafetensorsError } from '../model/safetensors';
import { TokenizerError } from '../model/tokenizer';
import { WeightSourceError } from '../model/weight-source';
import { modelError, requestError } from './model-errors';

describe('model errors → EngineError', () => {
  const cases: [unknown, string, RegExp][] = [
    [
      new ConfigError('invalid', 'no config.json in http://x/: is this …'),
      'model-not-found',
      /no config\.json/,
    ],
    [
      new ConfigError('unknown-model-type', 'unsupported model_type "llava"', 'model_type'),
      'model-unsupported',
      /model_type "llava".*\(config\.json key model_type\)/,
    ],
    [
      new ConfigError(
        'invalid',
        'text_config.hidden_size must be a positive integer',
        'text_config.hidden_size',
      ),
      'model-invalid',
      /hidden_size/,
    ],
    [
      new SafetensorsError('truncated', 'a.safetensors is truncated: …', 'a.safetensors'),
      'model-invalid',
      /truncated/,
    ],
    [
      new SafetensorsError('bad-index', 'shard b.safetensors named in index is missing', 'b.safetensors'),
      'model-invalid',
      /missing/,
    ],
    [
      new WeightSourceError('not-found', 'tokenizer.json', 'tokenizer.json was not found at http://x/'),
      'model-not-found',
      /tokenizer\.json/,
    ],
    [
      new WeightSourceError(
        'network',
        'config.json',
        'could not reach http://x/config.json: Failed to fetch',
      ),
      'network',
      /could not reach/,
    ],
    [
      new WeightSourceError('no-range', 'a.safetensors', 'the server ignores HTTP Range requests'),
      'network',
      /Range/,
    ],
    [new TokenizerError('merges.txt: bad line'), 'model-invalid', /tokenizer: merges\.txt/],
    [new GpuError('out-of-memory', 'x needs 300 MiB in one binding'), 'out-of-memory', /300 MiB/],
    [Object.assign(new Error('aborted'), { name: 'AbortError' }), 'cancelled', /cancelled/],
    [new Error('boom'), 'internal', /boom/],
  ];
  for (const [input, kind, message] of cases) {
    it(`${(input as Error).name} (${(input as { code?: string }).code ?? ''}) → ${kind}`, () => {
      const e = modelError(input, 'the source');
      expect(e).toBeInstanceOf(EngineError);
      expect(e.kind).toBe(kind);
      expect(e.message).toMatch(message);
      if (kind.startsWith('model-') || kind === 'network') expect(e.hint).not.toBe('');
    });
  }

  it('bad sampling is a bad request', () => {
    expect(requestError(new RangeError('sampling: topP 2'))).toMatchObject({ kind: 'bad-request' });
  });
});
