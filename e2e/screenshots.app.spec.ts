/**
 * Screenshots of the main states for people to look at (artifacts/screenshots/): empty, a video
 * loaded, thinking, answered (light and dark), an error, the widget in a host page, and 360 px wide.
 * Each state is asserted before its picture, so a broken state fails here rather than photographs.
 */
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { serveStatic } from '../scripts/browser/static-server';
import { loadRandomModel } from './random-model';

const SHOTS = 'artifacts/screenshots';
const HOST_PORT = 4183;

test.beforeAll(() => mkdirSync(SHOTS, { recursive: true }));

async function ready(page: Page) {
  await page.goto('/');
  await expect(page.getByTestId('model-name')).toBeVisible({ timeout: 120_000 });
}

async function loadSample(page: Page, name = 'red-left') {
  await page.getByTestId(`sample-${name}`).click();
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
}

async function setMaxTokens(page: Page, n: number) {
  await page.getByTestId('sampling-settings').locator('summary').click();
  await page.getByTestId('max-tokens-input').fill(String(n));
  await page.getByTestId('sampling-settings').locator('summary').click();
}

/** Room for the demo model's whole answer (a ~35-token think, then the answer; it ends by itself). */
async function answer(page: Page, tokens = 64) {
  await setMaxTokens(page, tokens);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
}

test('empty, video loaded, thinking, answered', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await ready(page);
  await page.screenshot({ path: `${SHOTS}/empty.png`, fullPage: true });

  await loadSample(page);
  await page.screenshot({ path: `${SHOTS}/video-loaded.png`, fullPage: true });

  await answer(page);
  await page.screenshot({ path: `${SHOTS}/answered.png`, fullPage: true });

  // Mid-thought: the demo model's answer is over within a second, so the random tiny-a (which never
  // ends by itself) writes this one.
  await loadRandomModel(page);
  await setMaxTokens(page, 400);
  await page.getByTestId('ask-button').click();
  await expect
    .poll(async () => Number(await page.getByTestId('thinking-count').getAttribute('data-count')), {
      timeout: 60_000,
    })
    .toBeGreaterThan(3);
  await page.screenshot({ path: `${SHOTS}/thinking.png`, fullPage: true });
  await page.getByRole('button', { name: /^Stop/ }).click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', /stopped|done/);
});

test('answered, dark', async ({ browser, baseURL }) => {
  const context = await browser.newContext({
    colorScheme: 'dark',
    baseURL,
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  await ready(page);
  await loadSample(page, 'green-up');
  await answer(page);
  await page.screenshot({ path: `${SHOTS}/answered-dark.png`, fullPage: true });
  await context.close();
});

test('an error, with what to do next', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await ready(page);
  await page.getByTestId('video-url').fill(new URL('/samples/missing.mp4', page.url()).href);
  await page.getByRole('button', { name: 'Load URL' }).click();
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'error', { timeout: 60_000 });
  await page.screenshot({ path: `${SHOTS}/error.png`, fullPage: true });
});

test('360 px wide', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 780 });
  await ready(page);
  await loadSample(page);
  await answer(page);
  // Nothing wider than the screen.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await page.screenshot({ path: `${SHOTS}/narrow-360.png`, fullPage: true });
});

test('the widget in a host page', async ({ page, baseURL }) => {
  let server: Server | null = null;
  try {
    server = await serveStatic(HOST_PORT, {
      '/samples/': resolve('public/samples'),
      '/': resolve('examples'),
    });
    await page.setViewportSize({ width: 1000, height: 760 });
    await page.goto(`http://127.0.0.1:${HOST_PORT}/host.html?app=${encodeURIComponent(baseURL ?? '')}`);
    const widget = page.locator('#widget');
    await expect(widget.locator('[part="status"]')).toContainText(/Video loaded/, { timeout: 120_000 });
    await page.locator('#ask-widget').click();
    await expect(widget.locator('[part="status"]')).toContainText(/Answered/, { timeout: 120_000 });
    await expect(page.frameLocator('#frame').locator('video-reasoner [part="status"]')).toContainText(
      /Video loaded/,
      { timeout: 120_000 },
    );
    await page.screenshot({ path: `${SHOTS}/widget-host.png`, fullPage: true });
    await widget.screenshot({ path: `${SHOTS}/widget-320x480.png` });
    // The widget follows the system's dark scheme (the host's custom properties still apply).
    await page.emulateMedia({ colorScheme: 'dark' });
    await expect(widget.locator('[part="container"]')).toHaveCSS('background-color', 'rgb(23, 26, 34)');
    await widget.screenshot({ path: `${SHOTS}/widget-320x480-dark.png` });
  } finally {
    await new Promise((r) => (server ? server.close(r) : r(null)));
  }
});
