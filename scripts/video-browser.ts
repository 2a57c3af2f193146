/**
 * Headless Chromium (system binary, the flags of playwright.config.ts) on a private Vite dev server,
 * for the video CLIs (`npm run frames`, `npm run bench:video`): page modules are imported from
 * source, the same code the app runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS } from '../playwright.config';

export const ROOT = resolve(import.meta.dirname, '..');
const BLANK = '/src/video/testing/blank.html';

function chromePath(): string {
  if (process.env.CHROME_PATH) return process.env.CHROME_PATH;
  const env = join(ROOT, '.vendor', 'test-env.json');
  if (existsSync(env)) return JSON.parse(readFileSync(env, 'utf8')).chrome;
  return '/usr/bin/chromium';
}

export interface VideoBrowser {
  page: Page;
  origin: string;
  version: string;
  /** A switch on this browser's command line only, to find its processes in /proc. */
  marker: string;
  close(): Promise<void>;
}

/**
 * Starts Vite (any free port) and Chromium, opens a blank page and imports `warmModule` once so that
 * Vite's first-use dependency optimisation (which reloads the page) happens before any work.
 */
export async function openVideoBrowser(warmModule: string): Promise<VideoBrowser> {
  const server: ViteDevServer = await createServer({
    root: ROOT,
    logLevel: process.env.VITE_LOG ? 'info' : 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    // Scan every source file up front: a dependency first met inside the engine worker would
    // otherwise make Vite re-optimise and reload the page mid-run.
    optimizeDeps: { entries: ['src/**/*.{ts,tsx}', '!src/**/*.test.ts'] },
    // Its own dependency cache: a different optimizeDeps must not invalidate other dev servers' cache.
    cacheDir: join(ROOT, '.cache/vite-video'),
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite: no address');
  const origin = `http://127.0.0.1:${address.port}`;
  let browser: Browser | null = null;
  try {
    const marker = `--video-cli-instance=${process.pid}-${Date.now()}`;
    browser = await chromium.launch({ executablePath: chromePath(), args: [...CHROMIUM_ARGS, marker] });
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e.message));
    await page.goto(origin + BLANK);
    for (let attempt = 0; ; attempt++) {
      try {
        await page.evaluate((m) => import(m), warmModule);
        break;
      } catch (err) {
        if (attempt >= 4 || !/context was destroyed|navigat|dynamically imported/i.test(String(err)))
          throw err;
        await page.waitForLoadState('load');
      }
    }
    const b = browser;
    return {
      page,
      origin,
      version: b.version(),
      marker,
      close: async () => {
        await b.close();
        await server.close();
      },
    };
  } catch (err) {
    await browser?.close();
    await server.close();
    throw err;
  }
}

/** page.evaluate, retried when a Vite reload destroyed the page's context mid-call. */
export async function evaluateWithRetry<A, R>(
  page: Page,
  fn: (arg: A) => Promise<R>,
  arg: A,
  setup?: () => Promise<void>,
): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await page.evaluate(fn as never, arg as never)) as R;
    } catch (err) {
      if (attempt >= 2 || !/context was destroyed|dynamically imported/i.test(String(err))) throw err;
      await page.waitForLoadState('load');
      if (/dynamically imported/i.test(String(err))) await page.reload();
      await setup?.();
    }
  }
}

/** Puts a disk file into the page as a File (via a file input: streamed from disk, never copied in). */
export async function fileIntoPage(page: Page, path: string): Promise<void> {
  await page.evaluate(() => {
    document.getElementById('cli-file')?.remove();
    const input = document.createElement('input');
    input.type = 'file';
    input.id = 'cli-file';
    document.body.append(input);
  });
  await page.setInputFiles('#cli-file', path);
}
