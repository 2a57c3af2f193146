/**
 * npm run bench:page [-- --runs 3]: what the built app costs a visitor, in headless Chromium (software
 * WebGPU, the harness's flags), against `vite preview` of dist/ (run `npm run build` first):
 * - first view: the JS and CSS the page loads (bytes, and gzip at level 6 as a server would send them),
 *   the page's own and the engine worker's apart; the same for the widget on a host page;
 * - navigation → interactive (the drop zone's file button in the DOM and enabled) and → the demo model
 *   loaded (the model panel names it), first visits with an empty cache;
 * - the widget's `ready` event (engine up, demo model loaded) on examples/host.html from a second origin;
 * - the service worker's precache: entries and bytes.
 * Medians over --runs visits; writes artifacts/bench-page.json.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Page } from '@playwright/test';
import { preview } from 'vite';
import { CHROMIUM_ARGS, chromePath, ROOT } from '../browser/harness';
import { serveStatic } from '../browser/static-server';

const APP_PORT = 4191;
const HOST_PORT = 4192;
const DIST = join(ROOT, 'dist');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

interface Transfer {
  js: number;
  jsGzip: number;
  css: number;
  cssGzip: number;
  workerJs: number;
  workerJsGzip: number;
}

/** Sums the scripts and stylesheets `page` receives (the engine worker's script apart). */
function watchTransfer(page: Page): () => Promise<Transfer> {
  const pending: Promise<void>[] = [];
  const t: Transfer = { js: 0, jsGzip: 0, css: 0, cssGzip: 0, workerJs: 0, workerJsGzip: 0 };
  page.on('response', (res) => {
    const type = res.request().resourceType();
    const url = res.url();
    const isJs = type === 'script' || /\.m?js(\?|$)/.test(url);
    const isCss = type === 'stylesheet' || /\.css(\?|$)/.test(url);
    if (!isJs && !isCss) return;
    pending.push(
      res
        .body()
        .then((body) => {
          const gz = gzipSync(body, { level: 6 }).byteLength;
          if (isCss) {
            t.css += body.byteLength;
            t.cssGzip += gz;
          } else if (/engine\.worker/.test(url)) {
            t.workerJs += body.byteLength;
            t.workerJsGzip += gz;
          } else {
            t.js += body.byteLength;
            t.jsGzip += gz;
          }
        })
        .catch(() => {}),
    );
  });
  return async () => {
    await Promise.all(pending);
    return t;
  };
}

/** Marks (performance.now(), ms from navigation start) when the page becomes usable and the model loads. */
const PAGE_MARKS = `
  window.__marks = {};
  new MutationObserver(() => {
    const m = window.__marks;
    const pick = document.querySelector('[data-testid="video-dropzone"] button');
    if (!m.interactive && pick && !pick.disabled) m.interactive = performance.now();
    if (!m.model && document.querySelector('[data-testid="model-name"]')) m.model = performance.now();
  }).observe(document, { childList: true, subtree: true, attributes: true });
  document.addEventListener('ready', () => { window.__marks.widgetReady ??= performance.now(); }, true);
`;

async function main() {
  const runs = arg('runs', 3);
  if (!existsSync(join(DIST, 'index.html')) || !existsSync(join(DIST, 'widget/video-reasoner.js')))
    throw new Error('dist/ has no app or widget: run `npm run build` first');

  const server = await preview({
    root: ROOT,
    preview: { port: APP_PORT, strictPort: true, host: '127.0.0.1' },
  });
  const host = await serveStatic(HOST_PORT, {
    '/samples/': join(ROOT, 'public/samples'),
    '/': join(ROOT, 'examples'),
  });
  const browser = await chromium.launch({ executablePath: chromePath(), args: CHROMIUM_ARGS });
  const app = `http://127.0.0.1:${APP_PORT}`;
  const pageRuns: { interactive: number; model: number; domContentLoaded: number; t: Transfer }[] = [];
  const widgetRuns: { ready: number; t: Transfer }[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      // A fresh context per visit: empty HTTP cache and storage, no service worker (a first visit).
      const ctx = await browser.newContext({ serviceWorkers: 'block' });
      const page = await ctx.newPage();
      await page.addInitScript(PAGE_MARKS);
      const done = watchTransfer(page);
      await page.goto(`${app}/`);
      await page.waitForFunction(
        () => (window as never as { __marks: { model?: number } }).__marks.model,
        null,
        {
          timeout: 180_000,
        },
      );
      const marks = await page.evaluate(() => ({
        ...(window as never as { __marks: { interactive: number; model: number } }).__marks,
        domContentLoaded: (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming)
          .domContentLoadedEventEnd,
      }));
      pageRuns.push({ ...marks, t: await done() });
      await ctx.close();

      const wctx = await browser.newContext({ serviceWorkers: 'block' });
      const wpage = await wctx.newPage();
      await wpage.addInitScript(PAGE_MARKS);
      const wdone = watchTransfer(wpage);
      await wpage.goto(`http://127.0.0.1:${HOST_PORT}/host.html?iframe=0&app=${encodeURIComponent(app)}`);
      await wpage.waitForFunction(
        () => (window as never as { __marks: { widgetReady?: number } }).__marks.widgetReady,
        null,
        { timeout: 180_000 },
      );
      const ready = await wpage.evaluate(
        () => (window as never as { __marks: { widgetReady: number } }).__marks.widgetReady,
      );
      widgetRuns.push({ ready, t: await wdone() });
      await wctx.close();
      console.log(
        `run ${i + 1}/${runs}: page interactive ${marks.interactive.toFixed(0)} ms, model ${marks.model.toFixed(0)} ms; widget ready ${ready.toFixed(0)} ms`,
      );
    }
  } finally {
    await browser.close();
    await new Promise((r) => host.close(r));
    await new Promise<void>((r, j) => server.httpServer.close((e) => (e ? j(e) : r())));
  }

  // The precache: the manifest Workbox injected into sw.js, sizes from dist/.
  const sw = readFileSync(join(DIST, 'sw.js'), 'utf8');
  const urls = [...sw.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
  const precacheBytes = urls.reduce((n, u) => n + statSync(join(DIST, decodeURIComponent(u))).size, 0);

  const t = pageRuns[0].t;
  const w = widgetRuns[0].t;
  const result = {
    browser: `Chromium ${browser.version()} (headless, software WebGPU)`,
    runs,
    page: {
      interactiveMs: median(pageRuns.map((r) => r.interactive)),
      domContentLoadedMs: median(pageRuns.map((r) => r.domContentLoaded)),
      demoModelLoadedMs: median(pageRuns.map((r) => r.model)),
      firstView: t,
    },
    widget: { readyMs: median(widgetRuns.map((r) => r.ready)), firstView: w },
    precache: { entries: urls.length, bytes: precacheBytes },
  };
  mkdirSync(join(ROOT, 'artifacts'), { recursive: true });
  writeFileSync(join(ROOT, 'artifacts/bench-page.json'), JSON.stringify(result, null, 2));

  console.log(`\n${result.browser}, medians of ${runs} first visits`);
  console.log(
    `page first view: JS ${kib(t.jsGzip)} gzip (${kib(t.js)}), CSS ${kib(t.cssGzip)} gzip (${kib(t.css)}); engine worker JS ${kib(t.workerJsGzip)} gzip (${kib(t.workerJs)})`,
  );
  console.log(
    `page: DOMContentLoaded ${result.page.domContentLoadedMs.toFixed(0)} ms, interactive ${result.page.interactiveMs.toFixed(0)} ms, demo model loaded ${result.page.demoModelLoadedMs.toFixed(0)} ms`,
  );
  console.log(
    `widget (host page on another origin): JS ${kib(w.jsGzip)} gzip (${kib(w.js)}) + engine worker ${kib(w.workerJsGzip)} gzip; ready ${result.widget.readyMs.toFixed(0)} ms`,
  );
  console.log(`precache: ${urls.length} entries, ${(precacheBytes / 2 ** 20).toFixed(2)} MiB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
