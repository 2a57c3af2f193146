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
    expect(modelSourceFor(' a/b@v1.0 ', { base, endpoint: 'https://mirror.local/' })).toEqual({
      source: { kind: 'hub', repo: 'a/b', revision: 'v1.0', endpoint: 'https://mirror.local' },
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
  it('loads only over https, http on localhost or from the page origin, without credentials', () => {
    const ok = [
      'https://cdn.example/m',
      'http://localhost:8080/m',
      'http://127.0.0.1/m',
      'http://[::1]:9000/m',
      'http://127.0.0.1:4173/other/', // the page's own origin
    ];
    for (const u of ok) expect(modelSourceFor(u, { base }).source.kind, u).toBe('url');
    const lanPage = 'http://192.168.1.5:4173/';
    expect(modelSourceFor('/models/m/', { base: lanPage }).source).toEqual({
      kind: 'url',
      baseUrl: 'http://192.168.1.5:4173/models/m/',
    });
    expect(() => modelSourceFor('http://evil.example/m', { base })).toThrow(/plain http: only https/);
    expect(() => modelSourceFor('http://192.168.1.5/m', { base })).toThrow(/plain http/);
    expect(() => modelSourceFor('https://user:pw@cdn.example/m', { base })).toThrow(/password in the URL/);
    expect(() => modelSourceFor('https://token@cdn.example/m', { base })).toThrow(/user name/);
    expect(() => modelSourceFor('a/b', { base, endpoint: 'http://mirror.local' })).toThrow(
      /hub endpoint http:\/\/mirror\.local uses plain http/,
    );
    expect(modelSourceFor('a/b', { base, endpoint: 'http://localhost:5000' }).source.kind).toBe('hub');
  });

  it('refuses an empty name and a non-http endpoint', () => {
    expect(() => modelSourceFor('  ', { base })).toThrow(/no model given/);
    expect(() => modelSourceFor('a/b', { base, endpoint: 'ftp://x' })).toThrow(/not an http/);
  });
});
