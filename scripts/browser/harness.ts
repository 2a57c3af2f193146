/**
 * The one browser harness of the CLIs (`npm run infer`, `frames`, `bench:video`, `bench:peer`) and of
 * playwright.config.ts: the system Chromium (never a Playwright download) with software WebGPU and
 * WebCodecs→WebGPU flags, a private Vite dev server on the repository's sources, and pages on it into
 * which page modules (scripts/browser/pages/) are imported, the same code the app runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from '@playwright/test';
import type { InlineConfig, Plugin, ViteDevServer } from 'vite';
import { findChrome } from '../setup-test-env.mjs';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A blank page served by every harness server: page modules are imported into it. */
export const BLANK = '/__blank';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-angle=swiftshader',
  '--disable-vulkan-surface',
];

/** CHROMIUM_ARGS without the SwiftShader flags, so Chromium picks a real GPU. */
export const HARDWARE_GPU_ARGS = CHROMIUM_ARGS.filter((a) => !/swiftshader|--disable-vulkan-surface/.test(a));

/** $CHROME_PATH, else the one `npm run setup:test-env` recorded, else the first known install path. */
export function chromePath(): string {
  if (process.env.CHROME_PATH) return process.env.CHROME_PATH;
  const env = join(ROOT, '.vendor', 'test-env.json');
  if (existsSync(env)) {
    const { chrome } = JSON.parse(readFileSync(env, 'utf8')) as { chrome?: string };
    if (chrome && existsSync(chrome)) return chrome;
  }
  const found = findChrome();
  if (!found) throw new Error('no Chromium found: run `npm run setup:test-env` or set CHROME_PATH');
  return found;
}

function blankPage(): Plugin {
  return {
    name: 'harness-blank-page',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0];
        if (path === BLANK) {
          res.setHeader('Content-Type', 'text/html');
          res.end('<!doctype html><meta charset="utf-8"><title>harness</title><body></body>');
        } else if (path === '/favicon.ico') {
          res.statusCode = 204;
          res.end();
        } else next();
      });
    },
  };
}

/**
 * Vite's dev server for a CLI: this repository's vite.config.ts, 127.0.0.1 on any free port, no HMR
 * (a source edit must not reload a page mid-run), every source file and page module scanned up front
 * (a dependency first met mid-run would make Vite re-optimise and reload the page), and its own
 * dependency cache, so that other dev servers' differing settings never invalidate it.
 */
async function startVite(plugins: Plugin[] = []): Promise<{ server: ViteDevServer; origin: string }> {
  const { createServer } = await import('vite');
  const config: InlineConfig = {
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: process.env.VITE_LOG ? 'info' : 'error',
    clearScreen: false,
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
    optimizeDeps: {
      entries: ['src/**/*.{ts,tsx}', '!src/**/*.test.ts', 'scripts/browser/pages/*.ts'],
    },
    cacheDir: join(ROOT, '.cache/vite-cli'),
    plugins: [blankPage(), ...plugins],
  };
  const server = await createServer(config);
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') {
    await server.close();
    throw new Error('vite: no address');
  }
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

export interface Harness {
  browser: Browser;
  /** The first page, on BLANK, with `module` (if given) imported once. */
  page: Page;
  /** Where the dev server listens, e.g. http://127.0.0.1:5173. */
  origin: string;
  /** Chromium's version. */
  version: string;
  /** A switch on this browser's command line only, to find its processes in /proc. */
  marker: string;
  /** Another page on BLANK (page errors printed), for work that wants a fresh page. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** A page module imported into the first page before any work, so that Vite's optimiser settles. */
  module?: string;
  /** Vite plugins serving what the CLI needs beyond the sources (files, data). */
  plugins?: Plugin[];
  /** Chromium flags; CHROMIUM_ARGS unless given. */
  args?: string[];
}

/** Starts Vite and Chromium and opens a page on BLANK; close() stops both. */
export async function openHarness(options: HarnessOptions = {}): Promise<Harness> {
  const { server, origin } = await startVite(options.plugins);
  let browser: Browser | null = null;
  try {
    const marker = `--harness-instance=${process.pid}-${Date.now()}`;
    browser = await chromium.launch({
      executablePath: chromePath(),
      args: [...(options.args ?? CHROMIUM_ARGS), marker],
    });
    const b = browser;
    const newPage = async () => {
      const page = await b.newPage();
      page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
      await page.goto(origin + BLANK);
      return page;
    };
    const page = await newPage();
    if (options.module) await importInPage(page, options.module);
    return {
      browser: b,
      page,
      origin,
      version: b.version(),
      marker,
      newPage,
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

/** Vite re-optimised its dependencies under the page: the page was reloaded, or must be. */
const RELOADED = /context was destroyed|navigat/i;
const STALE = /dynamically imported module|Outdated Optimize Dep/i;

/** Imports `module` into the page, reloading it when the first import met a dependency re-optimisation. */
export async function importInPage(page: Page, module: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await page.evaluate((m) => import(/* @vite-ignore */ m).then(() => undefined), module);
      return;
    } catch (err) {
      if (attempt >= 4 || !(RELOADED.test(String(err)) || STALE.test(String(err)))) throw err;
      if (STALE.test(String(err))) await page.reload();
      await page.waitForLoadState('load');
    }
  }
}

/** page.evaluate, retried when a dependency re-optimisation destroyed the page's context mid-call. */
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
      if (attempt >= 2 || !(RELOADED.test(String(err)) || STALE.test(String(err)))) throw err;
      if (STALE.test(String(err))) await page.reload();
      await page.waitForLoadState('load');
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
