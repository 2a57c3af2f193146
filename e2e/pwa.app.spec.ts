/**
 * The installable, offline app: the built app registers a service worker with a web app manifest;
 * once it controls the page, the page reloads with the network off and the demo model answers about
 * a sample clip.
 */
import { expect, test } from '@playwright/test';

test.use({ serviceWorkers: 'allow' });

test('installable, and answers offline once visited', async ({ page, context }) => {
  test.setTimeout(400_000);
  await page.goto('/');
  // The manifest an install prompt reads.
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  expect(href).toBeTruthy();
  const manifest = await (await page.request.get(new URL(href!, page.url()).href)).json();
  expect(manifest).toMatchObject({ name: 'Video Reasoner', display: 'standalone' });
  expect(manifest.icons.map((i: { sizes: string }) => i.sizes)).toEqual(
    expect.arrayContaining(['192x192', '512x512']),
  );
  expect(manifest.icons.some((i: { purpose?: string }) => i.purpose === 'maskable')).toBe(true);
  for (const icon of manifest.icons)
    expect((await page.request.get(new URL(icon.src, page.url()).href)).ok()).toBe(true);

  // The worker installs, precaching the shell and the demo model; it serves the next visit.
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  await page.evaluate(async () => {
    const r = await navigator.serviceWorker.ready;
    if (r.active?.state !== 'activated')
      await new Promise<void>((done) => r.active?.addEventListener('statechange', () => done()));
  });

  // A first visit has no older version to replace: no update banner.
  await expect(page.getByTestId('update-banner')).toHaveCount(0);
  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Video Reasoner' })).toBeVisible();
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  await expect(page.getByTestId('model-name')).toHaveText('tiny-r1-shapes');
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('max-tokens-input').fill('3');
  // A sample clip comes from the precache too (the worker's Range requests included) and is asked about.
  await page.getByTestId('sample-red-left').click();
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(page.getByTestId('question-input')).toHaveValue('Which way does the red square move?');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  expect(Number(await page.getByTestId('raw-output').getAttribute('data-tokens'))).toBeGreaterThan(0);
  await expect(page.getByTestId('ask-video')).toHaveAttribute('data-has-video', 'true');
  await page.screenshot({ path: 'artifacts/app-offline.png' });
  await context.setOffline(false);
});
