/**
 * The offline model cache (OPFS) in the built app, with a converted model (npm run convert's format,
 * tiny-a). With the app's service worker: served from another origin (as the hub or a CDN), the first
 * load copies it into OPFS, checked file by file; offline, the page reloads (the shell from the service
 * worker) and loading the same URL reads OPFS (not one request) and answers as before. Served by
 * page.route: a quota too small for it (navigator.storage.estimate stubbed in the engine worker)
 * refuses before any weight is downloaded, saying how much is needed; a corrupt file fails naming it;
 * neither leaves anything in OPFS.
 */
import { expect, type Page, test } from '@playwright/test';
import { convertFixture } from '../src/model/testing/convert';
import { startHubServer } from '../src/model/testing/hub-server';
import { serveFiles } from './serve-files';

const PREFIX = '/converted/tiny-a-q4/';

async function openApp(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
}

async function loadUrl(page: Page, url: string): Promise<void> {
  await page.getByTestId('model-url-input').fill(url);
  await page.getByTestId('model-url-load').click();
}

async function askAndWait(page: Page, question: string): Promise<string> {
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('max-tokens-input').fill('6');
  await page.getByTestId('question-input').fill(question);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  return (await page.getByTestId('raw-output').textContent()) ?? '';
}

/** Every path under OPFS's models/ folder ('' when it does not exist). */
async function opfsModels(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const out: string[] = [];
    const walk = async (d: FileSystemDirectoryHandle, p: string) => {
      for await (const [name, h] of (
        d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }
      ).entries()) {
        out.push(p + name + (h.kind === 'directory' ? '/' : ''));
        if (h.kind === 'directory') await walk(h as FileSystemDirectoryHandle, `${p}${name}/`);
      }
    };
    const models = await root.getDirectoryHandle('models').catch(() => null);
    if (models) await walk(models, '');
    return out;
  });
}

test.describe('offline model cache', () => {
  test('a small quota refuses before downloading; a corrupt file fails naming it; neither leaves anything', async ({
    page,
  }) => {
    test.setTimeout(300_000);
    const { files, manifest } = await convertFixture('tiny-a', 1 << 20);
    const shard = Object.keys(manifest.files).find((f) => f.endsWith('.safetensors'))!;
    // The engine worker asks navigator.storage.estimate(): its script gets a stub with 2 MB free.
    let stubQuota = true;
    await page.route('**/assets/engine.worker-*.js', async (route) => {
      const res = await route.fetch();
      const stub = stubQuota
        ? "Object.defineProperty(navigator.storage, 'estimate', { value: async () => ({ quota: 2e6, usage: 0 }) });\n"
        : '';
      await route.fulfill({ response: res, body: stub + (await res.text()) });
    });
    const seen = await serveFiles(page, PREFIX, files);
    await openApp(page);
    await loadUrl(page, PREFIX);
    const error = page.getByTestId('model-error');
    await expect(error).toBeVisible({ timeout: 60_000 });
    await expect(error).toHaveAttribute('data-kind', 'storage-full');
    await expect(page.getByTestId('model-error-message')).toContainText(
      /needs [\d.]+ MB of browser storage; 2\.0 MB is free/,
    );
    // Of the shards only their headers were read (the first 256 kB each), before the check refused.
    const shardReads = seen.filter((r) => r.file.endsWith('.safetensors') && r.method === 'GET');
    expect(shardReads.length).toBeGreaterThan(0);
    expect(shardReads.filter((r) => r.range !== 'bytes=0-262143')).toEqual([]);
    expect(await opfsModels(page)).toEqual([]);

    // Room enough now, but a shard is corrupt: the copy stops at that file and is removed.
    stubQuota = false;
    const bad = files.get(shard)!.slice();
    bad[bad.length >> 1] ^= 1;
    files.set(shard, bad);
    await page.reload();
    await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', {
      timeout: 150_000,
    });
    await loadUrl(page, PREFIX);
    await expect(error).toBeVisible({ timeout: 60_000 });
    await expect(error).toHaveAttribute('data-kind', 'model-invalid');
    await expect(page.getByTestId('model-error-message')).toContainText(`${shard} in`);
    await expect(page.getByTestId('model-error-message')).toContainText('does not match its manifest');
    expect(await opfsModels(page)).toEqual([]);
    // The shipped demo model stays loaded.
    await expect(page.getByTestId('model-name')).toHaveText('tiny-r1-shapes');
  });
});

test.describe('offline model cache with the service worker', () => {
  test.use({ serviceWorkers: 'allow' });

  test('load → cached → offline → reload → the model loads from OPFS and answers', async ({
    page,
    context,
  }) => {
    test.setTimeout(400_000);
    // Another origin (CORS), as the hub or a CDN: the service worker leaves it to the network.
    const { files } = await convertFixture('tiny-a', 1 << 20);
    const server = await startHubServer({ repo: 'someone/tiny-a-q4', files });
    try {
      await openApp(page);
      await page.evaluate(async () => {
        const r = await navigator.serviceWorker.ready;
        if (r.active?.state !== 'activated')
          await new Promise<void>((done) => r.active?.addEventListener('statechange', () => done()));
      });
      await loadUrl(page, server.baseUrl);
      await expect(page.getByTestId('model-name')).toHaveText('someone/tiny-a-q4', { timeout: 150_000 });
      const cached = await opfsModels(page);
      expect(cached.filter((p) => p.endsWith('/engine-manifest.json'))).toHaveLength(1);
      expect(cached.filter((p) => p.endsWith('.safetensors')).length).toBeGreaterThan(1);
      const answer = await askAndWait(page, 'What moves?');
      const served = server.requests.length;

      await context.setOffline(true);
      await page.reload();
      await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', {
        timeout: 150_000,
      });
      await loadUrl(page, server.baseUrl);
      await expect(page.getByTestId('model-name')).toHaveText('someone/tiny-a-q4', { timeout: 150_000 });
      expect(server.requests.length).toBe(served);
      expect(await askAndWait(page, 'What moves?')).toBe(answer);
      await context.setOffline(false);

      // The model panel lists the copy; deleting it (a second click confirms) empties the cache.
      const listed = page.getByTestId('cached-model');
      await expect(listed).toHaveCount(1);
      await expect(listed).toContainText('someone/tiny-a-q4');
      await page.getByTestId('model-panel').screenshot({ path: 'artifacts/model-panel-cached.png' });
      // Re-verify: the copy checks out; with one byte of a shard changed in OPFS, that shard is named.
      await page.getByTestId('cached-model-verify').click();
      await expect(page.getByTestId('cache-check')).toContainText('Every file matches its manifest', {
        timeout: 60_000,
      });
      const shard = await page.evaluate(async () => {
        const models = await (await navigator.storage.getDirectory()).getDirectoryHandle('models');
        for await (const [, folder] of (
          models as unknown as { entries(): AsyncIterable<[string, FileSystemDirectoryHandle]> }
        ).entries())
          for await (const [name, h] of (
            folder as unknown as { entries(): AsyncIterable<[string, FileSystemFileHandle]> }
          ).entries()) {
            if (!name.endsWith('.safetensors')) continue;
            const byte = new Uint8Array(await (await h.getFile()).slice(1000, 1001).arrayBuffer());
            const w = await h.createWritable({ keepExistingData: true });
            await w.write({ type: 'write', position: 1000, data: Uint8Array.of(byte[0] ^ 1) });
            await w.close();
            return name;
          }
        return '';
      });
      expect(shard).toMatch(/\.safetensors$/);
      await page.getByTestId('cached-model-verify').click();
      await expect(page.getByTestId('cache-check')).toContainText(
        `This copy is damaged: ${shard}: SHA-256 differs from the manifest`,
        { timeout: 60_000 },
      );
      await expect(page.getByTestId('cache-check-redownload')).toBeVisible();
      const del = page.getByTestId('cached-model-delete');
      await del.click();
      await expect(del).toHaveText('Really delete?');
      await del.click();
      await expect(page.getByTestId('cached-models')).toHaveCount(0);
      expect(await opfsModels(page)).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
