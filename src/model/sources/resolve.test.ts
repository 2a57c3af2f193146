import { describe, expect, it } from 'vitest';
import {
  DEFAULT_REPO,
  describeModel,
  HUB_ENDPOINT,
  hubBaseUrl,
  KNOWN_REPOS,
  parseRepoId,
  resolveModel,
} from './resolve';

describe('resolveModel', () => {
  const folders = new Set(['public/models/tiny-a', '/data/ckpt', 'Zhang199/TinyLLaVA-Video-R1-local']);
  const node = { isFolder: (p: string) => folders.has(p) };

  it('repo ids, with and without a revision, on the default or a given endpoint', () => {
    expect(resolveModel(DEFAULT_REPO)).toEqual({
      kind: 'hub',
      repo: 'Zhang199/TinyLLaVA-Video-R1',
      revision: 'main',
      endpoint: HUB_ENDPOINT,
    });
    expect(resolveModel('Zhang199/TinyLLaVA-Video-Coldstart_NextQA_16@v1.0', node)).toMatchObject({
      kind: 'hub',
      repo: 'Zhang199/TinyLLaVA-Video-Coldstart_NextQA_16',
      revision: 'v1.0',
    });
    expect(resolveModel('Zhang199/TinyLLaVA-Video-R1', { endpoint: 'http://127.0.0.1:9/' })).toMatchObject({
      endpoint: 'http://127.0.0.1:9',
    });
    for (const r of KNOWN_REPOS) expect(resolveModel(r, node).kind).toBe('hub');
  });

  it('URLs are base URLs; a pasted hub repo page is that repo', () => {
    expect(resolveModel('https://example.org/models/r1')).toEqual({
      kind: 'url',
      base: 'https://example.org/models/r1/',
    });
    const resolveUrl = 'https://huggingface.co/Zhang199/TinyLLaVA-Video-R1/resolve/main/';
    expect(resolveModel(resolveUrl)).toEqual({ kind: 'url', base: resolveUrl });
    expect(resolveModel('https://huggingface.co/Zhang199/TinyLLaVA-Video-R1')).toEqual({
      kind: 'hub',
      repo: DEFAULT_REPO,
      revision: 'main',
      endpoint: HUB_ENDPOINT,
    });
    expect(resolveModel('https://huggingface.co/Zhang199/TinyLLaVA-Video-R1/tree/refs/pr/3')).toMatchObject({
      kind: 'hub',
      revision: 'refs/pr/3',
    });
    // Another server's /a/b is just a base URL, even when it is the configured endpoint.
    expect(resolveModel('http://127.0.0.1:9/ns/name', { endpoint: 'http://127.0.0.1:9' })).toEqual({
      kind: 'url',
      base: 'http://127.0.0.1:9/ns/name/',
    });
  });

  it('in Node: an existing path is a folder whatever it looks like; path-like strings are folders', () => {
    expect(resolveModel('public/models/tiny-a', node)).toEqual({
      kind: 'folder',
      path: 'public/models/tiny-a',
    });
    expect(resolveModel('Zhang199/TinyLLaVA-Video-R1-local', node).kind).toBe('folder');
    expect(resolveModel('/data/ckpt', node).kind).toBe('folder');
    expect(resolveModel('./missing/dir', node)).toEqual({ kind: 'folder', path: './missing/dir' });
    expect(resolveModel('a/b/c', node)).toEqual({ kind: 'folder', path: 'a/b/c' });
  });

  it('in the page: paths are URLs relative to the page, slash-separated names are repo ids', () => {
    expect(resolveModel('/models/tiny-a/')).toEqual({ kind: 'url', base: '/models/tiny-a/' });
    expect(resolveModel('./models/tiny-a')).toEqual({ kind: 'url', base: './models/tiny-a/' });
    expect(resolveModel('models/tiny-a').kind).toBe('hub');
    expect(resolveModel('tiny-a')).toEqual({ kind: 'url', base: 'tiny-a/' });
    expect(() => resolveModel('  ')).toThrow(/no model given/);
  });

  it('hub file URLs and names', () => {
    expect(hubBaseUrl({ repo: DEFAULT_REPO })).toBe(
      'https://huggingface.co/Zhang199/TinyLLaVA-Video-R1/resolve/main/',
    );
    expect(hubBaseUrl({ repo: DEFAULT_REPO, revision: 'refs/pr/3', endpoint: 'http://127.0.0.1:9/' })).toBe(
      'http://127.0.0.1:9/Zhang199/TinyLLaVA-Video-R1/resolve/refs%2Fpr%2F3/',
    );
    expect(describeModel(resolveModel(DEFAULT_REPO))).toBe(DEFAULT_REPO);
    expect(describeModel(resolveModel(`${DEFAULT_REPO}@abc`))).toBe(`${DEFAULT_REPO}@abc`);
    expect(parseRepoId('a/b@')).toBeUndefined();
    expect(parseRepoId('a/../b')).toBeUndefined();
    expect(parseRepoId('a--b/c')).toBeUndefined();
    expect(parseRepoId('a/b')).toEqual({ repo: 'a/b', revision: undefined });
    expect(() => resolveModel(DEFAULT_REPO, { endpoint: 'ftp://x' })).toThrow(/not an http/);
  });
});
