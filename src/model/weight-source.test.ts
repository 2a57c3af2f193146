import { describe, expect, it } from 'vitest';
import { MapWeightSource } from './sources/map';
import { MAX_TEXT_FILE_BYTES, readJson, readText, WeightSourceError } from './weight-source';

describe('text files of a checkpoint', () => {
  it('refuses one larger than any real config or tokenizer before reading it', async () => {
    let sliced = false;
    const huge = {
      size: 2 ** 40,
      slice: () => {
        sliced = true;
        return new Blob([]);
      },
    };
    const src = new MapWeightSource({
      'config.json': huge,
      'tokenizer.json': new TextEncoder().encode('{"a":1}'),
    });
    const err = await readText(src, 'config.json').catch((e) => e);
    expect(err).toBeInstanceOf(WeightSourceError);
    expect(err.message).toMatch(/config\.json in memory is 1099511627776 bytes: more than the 64 MiB/);
    expect(sliced).toBe(false);
    expect(await readJson(src, 'tokenizer.json')).toEqual({ a: 1 });
    expect(MAX_TEXT_FILE_BYTES).toBeGreaterThan(7 * 2 ** 20); // Qwen2.5's tokenizer.json fits
  });
});
