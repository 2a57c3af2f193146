/**
 * Re-verifying an offline copy on the in-memory OPFS: a converted fixture written as the cache keeps
 * it checks out; a flipped byte, a short file and a missing file are each named, and nothing is
 * removed (the user chooses to delete or download again).
 */
import { describe, expect, it } from 'vitest';
import { ENGINE_MANIFEST } from '../model/engine-format';
import { cacheFolder } from '../model/model-cache';
import { convertFixture } from '../model/testing/convert';
import { ModelCache } from './model-cache';
import { type FakeDir, fakeStorage } from './testing/fake-opfs';

type Bytes = Uint8Array<ArrayBuffer>;

describe('offline copy re-verify', () => {
  it('checks every file against the manifest and names what is corrupt, short or missing', async () => {
    const { files, manifest } = await convertFixture('tiny-a', 64 << 10);
    const fake = fakeStorage({ quota: 1e9 });
    const root = await fake.storage.getDirectory();
    const models = await root.getDirectoryHandle('models', { create: true });
    const name = cacheFolder({ id: 'someone/tiny-a', revision: 'main' });
    const folder = await models.getDirectoryHandle(name, { create: true });
    // As the cache writes it: every file, the manifest last.
    for (const [f, bytes] of [...files].sort(([a], [b]) =>
      a === ENGINE_MANIFEST ? 1 : b === ENGINE_MANIFEST ? -1 : 0,
    )) {
      const w = await (await folder.getFileHandle(f, { create: true })).createWritable();
      await w.write(bytes as Bytes);
      await w.close();
    }
    const cache = new ModelCache(fake.storage);
    const [listed] = await cache.list();
    expect(listed.folder).toBe(name);
    const total = Object.values(manifest.files).reduce((n, e) => n + e.size, 0);
    let seen = 0;
    const ok = await cache.verify(name, (done, all) => {
      expect(all).toBe(total);
      seen = done;
    });
    expect(ok).toEqual({ folder: name, ok: true, checkedBytes: total, problems: [] });
    expect(seen).toBe(total);

    const shards = Object.keys(manifest.files).filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(2);
    const dir = (fake.root.children.get('models') as FakeDir).children.get(name) as FakeDir;
    const file = (f: string) => dir.children.get(f) as unknown as { data: Uint8Array };
    file(shards[0]).data[100] ^= 0x10; // one bit
    file(shards[1]).data = file(shards[1]).data.slice(0, -8);
    dir.children.delete(shards[2]);
    const bad = await cache.verify(name);
    expect(bad.ok).toBe(false);
    // Every file is reported (the manifest is read on its own, not through the listing's size check).
    expect(bad.problems).toEqual([
      { file: shards[0], problem: 'SHA-256 differs from the manifest' },
      {
        file: shards[1],
        problem: `${manifest.files[shards[1]].size - 8} bytes, the manifest says ${manifest.files[shards[1]].size}`,
      },
      { file: shards[2], problem: 'missing' },
    ]);
    expect(dir.children.has(shards[0])).toBe(true); // nothing removed
    expect(await cache.verify('nothing-here')).toMatchObject({
      ok: false,
      problems: [{ problem: 'not in the cache' }],
    });
  });
});
