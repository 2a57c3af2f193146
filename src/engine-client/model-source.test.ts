import { describe, expect, it } from 'vitest';
import { modelSourceFor } from './model-source';

describe('modelSourceFor (the page)', () => {
  const base = 'http://127.0.0.1:4173/app/';
  it('a repo id is the hub, with the endpoint and revision', () => {
    expect(modelSourceFor('Zhang199/TinyLLaVA-Video-R1', { base })).toEqual({
      source: {
        kind: 'hub',
        repo: 'Zhang199/TinyLLaVA-Video-R1',
        revision: 'main',
        endpoint: 'https://huggingface.co',
      },
      label: 'Zhang199/TinyLLaVA-Video-R1',
    });
    expect(modelSourceFor(' a/b@v1.0 ', { base, endpoint: 'http://mirror.local/' })).toEqual({
      source: { kind: 'hub', repo: 'a/b', revision: 'v1.0', endpoint: 'http://mirror.local' },
      label: 'a/b@v1.0',
    });
  });
  it('URLs, absolute or relative to the page, load from that folder', () => {
    expect(modelSourceFor('/models/tiny-a', { base }).source).toEqual({
      kind: 'url',
      baseUrl: 'http://127.0.0.1:4173/models/tiny-a/',
    });
    expect(modelSourceFor('./models/x/', { base }).source).toEqual({
      kind: 'url',
      baseUrl: 'http://127.0.0.1:4173/app/models/x/',
    });
    expect(modelSourceFor('https://cdn.example/m', { base }).source).toEqual({
      kind: 'url',
      baseUrl: 'https://cdn.example/m/',
    });
  });
  it('refuses an empty name and a non-http endpoint', () => {
    expect(() => modelSourceFor('  ', { base })).toThrow(/no model given/);
    expect(() => modelSourceFor('a/b', { base, endpoint: 'ftp://x' })).toThrow(/not an http/);
  });
});
