import { describe, expect, it } from 'vitest';
import { ENGINE_FORMAT } from './engine-format';
import { cacheFolder, checkCachedFolder, checkSpace, describeCached, keyOfFolder } from './model-cache';

const manifest = {
  format: ENGINE_FORMAT,
  version: 1,
  model: { source: 'Zhang199/TinyLLaVA-Video-R1', repo: 'Zhang199/TinyLLaVA-Video-R1', revision: 'abc123' },
  created: '2026-01-02T03:04:05.000Z',
  quantization: { scheme: 'asym', groupSize: 32, scaleDtype: 'f16', input: 'f32', tables: true },
  sourceWeightBytes: 100,
  files: {
    'model-00001-of-00001.safetensors': { size: 30, sha256: 'a'.repeat(64) },
    'config.json': { size: 5, sha256: 'b'.repeat(64) },
  },
};
const text = JSON.stringify(manifest);
const sizes = new Map([
  ['model-00001-of-00001.safetensors', 30],
  ['config.json', 5],
]);

describe('model cache rules', () => {
  it('names one folder per id and revision, with no slash, and reads it back', () => {
    const key = { id: 'Zhang199/TinyLLaVA-Video-R1', revision: 'main' };
    const folder = cacheFolder(key);
    expect(folder).not.toContain('/');
    expect(keyOfFolder(folder)).toEqual(key);
    const url = { id: 'https://cdn.example/models/r1@v2/', revision: '' };
    expect(keyOfFolder(cacheFolder(url))).toEqual(url);
    expect(cacheFolder(url)).not.toBe(cacheFolder({ id: 'https://cdn.example/models/r1', revision: 'v2/' }));
  });

  it('takes a folder for a model only with its manifest and every file at its size', () => {
    expect(checkCachedFolder(text, sizes, 'f')).toHaveProperty('manifest');
    expect(checkCachedFolder(undefined, sizes, 'f')).toEqual({
      problem: 'f: no engine-manifest.json (an unfinished write)',
    });
    expect(checkCachedFolder(text, new Map([['config.json', 5]]), 'f')).toEqual({
      problem: 'f: model-00001-of-00001.safetensors is missing',
    });
    expect(checkCachedFolder(text, new Map([...sizes, ['config.json', 4]]), 'f')).toEqual({
      problem: 'f: config.json is 4 bytes, not 5',
    });
    expect(checkCachedFolder('{"format":', sizes, 'f')).toHaveProperty('problem');
    expect(checkCachedFolder(JSON.stringify({ ...manifest, version: 0 }), sizes, 'f')).toHaveProperty(
      'problem',
    );
  });

  it('describes a cached model: id, revision, commit, bytes with the manifest, date', () => {
    const folder = cacheFolder({ id: 'Zhang199/TinyLLaVA-Video-R1', revision: 'main' });
    expect(describeCached(folder, manifest as never, 400)).toEqual({
      id: 'Zhang199/TinyLLaVA-Video-R1',
      revision: 'main',
      commit: 'abc123',
      bytes: 435,
      when: '2026-01-02T03:04:05.000Z',
      folder,
    });
  });

  it('checks space against the estimate with a margin and says how much is needed', () => {
    expect(checkSpace({ quota: 10e9, usage: 1e9 }, 2.8e9)).toMatchObject({ ok: true, available: 9e9 });
    expect(checkSpace(undefined, 2.8e9).ok).toBe(true); // the browser does not say: try
    const short = checkSpace({ quota: 3e9, usage: 0.5e9 }, 2.8e9);
    expect(short).toMatchObject({ ok: false, available: 2.5e9, needed: 2.8e9 });
    expect(short.message).toBe(
      'Caching this model offline needs 2940 MB of browser storage; 2500 MB is free.',
    );
    expect(checkSpace({ quota: 2.9e9, usage: 0 }, 2.8e9).ok).toBe(false); // inside the 5 % margin
  });
});
