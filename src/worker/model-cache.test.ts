/**
 * The offline cache on Dawn with an in-memory OPFS: a hub model loaded 4-bit is converted into the
 * cache as it downloads and loaded from there; the next load of the same id and revision reads the
 * cache with no request to the server and answers the same; a small quota refuses before any weight is
 * downloaded, saying how much is needed; a quota error mid-write leaves nothing; cached models are
 * listed and deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelLoadProgress, ModelSource } from '../engine-client/protocol';
import { ctx } from '../gpu/testing/kernel-suite';
import { convertFixture } from '../model/testing/convert';
import { fixtureFiles, readGoldenFrames, readGoldenIndex } from '../model/testing/goldens';
import { type HubServer, startHubServer } from '../model/testing/hub-server';
import { modelCommands } from './model-service';
import { EngineSession } from './session';
import { type FakeDir, fakeStorage } from './testing/fake-opfs';

const REPO = 'Zhang199/TinyLLaVA-Video-R1';

describe(`offline model cache (${ctx.actDtype})`, () => {
  const files = fixtureFiles('tiny-b');
  let server: HubServer;
  beforeAll(async () => {
    server = await startHubServer({ repo: REPO, files, commit: 'c0ffee'.padEnd(40, '0') });
  });
  afterAll(() => server.close());

  const engine = (storage: ReturnType<typeof fakeStorage>['storage']) => {
    const session = new EngineSession({ gpu: () => undefined, storage: () => storage });
    session.ctx = ctx;
    return modelCommands(session);
  };
  const source = (): ModelSource => ({ kind: 'hub', repo: REPO, endpoint: server.endpoint });
  /** Bytes of the shards served so far. */
  const shardBytes = () =>
    server.requests.filter((r) => r.file.endsWith('.safetensors')).reduce((n, r) => n + r.bytes, 0);
  const ask = async (m: ReturnType<typeof engine>) => {
    const index = readGoldenIndex('tiny-b');
    const r = await m.ask({
      question: 'Which way does the bright disc move?',
      pixels: { data: readGoldenFrames(index), shape: index.frames.shape },
      sampling: { temperature: 0, maxNewTokens: 4 },
    });
    return r.ids;
  };

  it('writes the offline copy on the first load, reads it with no network on the next', async () => {
    const fake = fakeStorage({ quota: 1e9 });
    const m = engine(fake.storage);
    const phases: ModelLoadProgress['phase'][] = [];
    const first = await m.loadModel(source(), (p) => phases.push(p.phase), { weights: 'q4' });
    expect(first).toMatchObject({ quantized: true, cached: 'written' });
    expect(phases).toContain('cache');
    expect(fake.calls.persist).toBe(1);
    const ids = await ask(m);
    const listed = await m.cachedModels();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: REPO, revision: 'main', commit: 'c0ffee'.padEnd(40, '0') });
    expect(listed[0].bytes).toBeGreaterThan(1e6);
    expect(listed[0].bytes).toBeLessThan(0.5 * [...files.values()].reduce((n, f) => n + f.byteLength, 0));

    // Converted in the worker with the GPU quantizer: the same bytes as npm run convert's (CPU) files.
    const { files: cli } = await convertFixture('tiny-b');
    const folder = fake.root.children.get('models') as FakeDir;
    const copy = folder.children.get(listed[0].folder) as FakeDir;
    for (const [name, bytes] of cli)
      if (name !== 'engine-manifest.json')
        expect(
          Buffer.from((copy.children.get(name) as { data: Uint8Array }).data).equals(Buffer.from(bytes)),
          name,
        ).toBe(true);

    const before = server.requests.length;
    const again = engine(fake.storage);
    const second = await again.loadModel(source(), undefined, { weights: 'q4' });
    expect(second).toMatchObject({ quantized: true, cached: 'read' });
    expect(server.requests.length).toBe(before); // not one request
    expect(await ask(again)).toEqual(ids);

    expect(await again.deleteCachedModel(REPO)).toBe(1);
    expect(await again.cachedModels()).toEqual([]);
    expect(fake.root.paths()).toEqual(['models/']);
  });

  it('refuses before downloading when the quota is too small, saying how much is needed', async () => {
    const fake = fakeStorage({ quota: 1e9 }, { estimateQuota: 2e6 });
    const m = engine(fake.storage);
    const before = shardBytes();
    const err = await m.loadModel(source(), undefined, { weights: 'q4' }).catch((e) => e);
    expect(err).toMatchObject({ kind: 'storage-full' });
    expect(err.message).toMatch(/needs \d+(\.\d)? MB of browser storage; 2\.0 MB is free/);
    // Only the headers were read (256 kB per shard): under 5 % of the shards.
    const total = [...files]
      .filter(([f]) => f.endsWith('.safetensors'))
      .reduce((n, [, b]) => n + b.byteLength, 0);
    expect(shardBytes() - before).toBeLessThan(total / 20);
    expect(fake.root.paths()).toEqual(['models/']);
    expect(await m.modelInfo()).toBeNull();
  });

  it('a quota error while writing removes the partial copy', async () => {
    // estimate() says there is room; the origin fills up midway through the shard.
    const fake = fakeStorage({ quota: 3e6 }, { estimateQuota: 1e9 });
    const m = engine(fake.storage);
    const err = await m.loadModel(source(), undefined, { weights: 'q4' }).catch((e) => e);
    expect(err).toMatchObject({ kind: 'storage-full' });
    expect(err.message).toMatch(/ran out while caching the model .* nothing was kept/);
    expect(fake.root.paths()).toEqual(['models/']);
    expect(await m.cachedModels()).toEqual([]);
  });

  it('where OPFS cannot be opened, the model loads from the network as without a cache', async () => {
    const refused = {
      getDirectory: async () => {
        throw new DOMException('not here', 'SecurityError');
      },
    };
    const m = engine(refused);
    const info = await m.loadModel(source(), undefined, { weights: 'q4' });
    expect(info.quantized).toBe(true);
    expect(info.cached).toBeUndefined();
  });

  it('a folder without its manifest (an unfinished write) is not a model, and is removed', async () => {
    const fake = fakeStorage({ quota: 1e9 });
    const models = (await (
      await fake.storage.getDirectory()
    ).getDirectoryHandle('models', {
      create: true,
    })) as FileSystemDirectoryHandle;
    const d = await models.getDirectoryHandle(encodeURIComponent(`${REPO}@main`), { create: true });
    const f = await d.getFileHandle('config.json', { create: true });
    const w = await f.createWritable();
    await w.write(files.get('config.json')! as Uint8Array<ArrayBuffer>);
    await w.close();
    expect(await engine(fake.storage).cachedModels()).toEqual([]);
    expect(fake.root.paths()).toEqual(['models/']);
  });

  it('copies a converted folder as it is; a corrupt file fails naming it and nothing is kept', async () => {
    const { files: converted, manifest } = await convertFixture('tiny-b');
    const repo = 'someone/tiny-b-q4';
    const good = await startHubServer({ repo, files: converted });
    const shard = Object.keys(manifest.files).find((f) => f.endsWith('.safetensors'))!;
    const broken = new Map(converted);
    const bad = converted.get(shard)!.slice();
    bad[bad.length >> 1] ^= 1;
    broken.set(shard, bad);
    const corrupt = await startHubServer({ repo, files: broken });
    try {
      const fake = fakeStorage({ quota: 1e9 });
      const m = engine(fake.storage);
      const err = await m
        .loadModel({ kind: 'hub', repo, endpoint: corrupt.endpoint }, undefined)
        .catch((e) => e);
      expect(err).toMatchObject({ kind: 'model-invalid' });
      expect(err.message).toContain(
        `${shard} in ${corrupt.endpoint}/${repo}/resolve/main/ does not match its manifest`,
      );
      expect(fake.root.paths()).toEqual(['models/']);

      const info = await m.loadModel({ kind: 'hub', repo, endpoint: good.endpoint });
      expect(info).toMatchObject({ quantized: true, cached: 'written' });
      const [cached] = await m.cachedModels();
      expect(cached.bytes).toBe(
        Object.values(manifest.files).reduce((n, f) => n + f.size, 0) +
          converted.get('engine-manifest.json')!.byteLength,
      );
      await good.close();
      const again = await engine(fake.storage).loadModel({ kind: 'hub', repo, endpoint: good.endpoint });
      expect(again.cached).toBe('read');
    } finally {
      await corrupt.close();
    }
  });
});
