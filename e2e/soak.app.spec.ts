/**
 * The soak in one page (the built app, the shipped demo model, SwiftShader): questions in a row through
 * the Ask form, then video swaps through the video input (the sample clips in turn), the engine
 * worker's memory read after each: its GPU buffers from the engine's ledger (`engine.memory()`, every
 * buffer counted from createBuffer to destroy(), the pool's free scratch given back) and its JS heap over
 * the DevTools protocol (a forced collection, then Runtime.getHeapUsage; `performance.memory` does not
 * exist in workers). The verdict is the Node soak's (src/worker/testing/soak.ts): the most bytes and
 * buffers after any of the last quarter-or-50 samples do not exceed the most after any of the first,
 * and the heap's median grows by at most max(4 MiB, 5 %).
 * CI-sized by default; the counts: `SOAK_QUESTIONS=200 SOAK_SWAPS=50` (`npm run soak:page`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type CDPSession, expect, type Page, test, type Worker } from '@playwright/test';
import type { EngineMemory } from '../src/engine-client/protocol';

const QUESTIONS = Number(process.env.SOAK_QUESTIONS ?? 16);
const SWAPS = Number(process.env.SOAK_SWAPS ?? 8);
const SAMPLES_DIR = join(import.meta.dirname, '..', 'public', 'samples');
const CLIPS: string[] = JSON.parse(readFileSync(join(SAMPLES_DIR, 'index.json'), 'utf8')).samples.map(
  (s: { file: string }) => s.file,
);

interface Sample {
  gpuBytes: number;
  gpuBuffers: number;
  pooledBytes: number;
  heapBytes: number;
}

/** The Node soak's criterion: ends of min(50, half) samples compared. */
function verdict(samples: Sample[]) {
  const window = Math.min(50, Math.floor(samples.length / 2));
  const first = samples.slice(0, window);
  const last = samples.slice(-window);
  const max = (s: Sample[], k: keyof Sample) => Math.max(...s.map((x) => x[k]));
  const median = (s: Sample[]) => s.map((x) => x.heapBytes).sort((a, b) => a - b)[Math.floor(s.length / 2)];
  const heapAllowance = Math.max(4 * 2 ** 20, 0.05 * median(first));
  return {
    window,
    first: { gpuBytes: max(first, 'gpuBytes'), gpuBuffers: max(first, 'gpuBuffers'), heap: median(first) },
    last: { gpuBytes: max(last, 'gpuBytes'), gpuBuffers: max(last, 'gpuBuffers'), heap: median(last) },
    heapAllowance,
  };
}

/** The engine worker's JS heap over CDP: the worker target attached once, messages sent through it. */
async function workerHeap(browser: Browser): Promise<() => Promise<number>> {
  const cdp: CDPSession = await browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send('Target.getTargets');
  const target = targetInfos.find((t) => t.type === 'worker' && /engine\.worker/.test(t.url));
  if (!target) throw new Error(`no engine worker target: ${targetInfos.map((t) => t.url).join(', ')}`);
  const { sessionId } = await cdp.send('Target.attachToTarget', {
    targetId: target.targetId,
    flatten: false,
  });
  let next = 0;
  const waiting = new Map<number, (r: { result?: unknown; error?: unknown }) => void>();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message) as { id?: number; result?: unknown; error?: unknown };
    if (m.id !== undefined) waiting.get(m.id)?.(m);
  });
  const call = async (method: string): Promise<Record<string, number>> => {
    const id = ++next;
    const reply = new Promise<{ result?: unknown; error?: unknown }>((r) => waiting.set(id, r));
    await cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method }) });
    const m = await reply;
    waiting.delete(id);
    if (m.error) throw new Error(`${method}: ${JSON.stringify(m.error)}`);
    return m.result as Record<string, number>;
  };
  return async () => {
    await call('HeapProfiler.collectGarbage');
    return (await call('Runtime.getHeapUsage')).usedSize;
  };
}

function engineWorker(page: Page): Worker {
  const w = page.workers().find((x) => /engine\.worker/.test(x.url()));
  if (!w) throw new Error('no engine worker');
  return w;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(3);

test('the soak in one page: questions in a row, then video swaps; no growth in the worker', async ({
  page,
  browser,
}) => {
  test.setTimeout(120_000 + (QUESTIONS + SWAPS) * 15_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  await expect(page.getByTestId('model-name')).toHaveText('tiny-r1-shapes');
  const heap = await workerHeap(browser);
  const worker = engineWorker(page);
  const sample = async (): Promise<Sample> => {
    const m = await worker.evaluate(() =>
      (self as unknown as { engine: { memory(): Promise<EngineMemory> } }).engine.memory(),
    );
    return { ...m, heapBytes: await heap() };
  };
  const report = (name: string, samples: Sample[], ms: number) => {
    const v = verdict(samples);
    console.log(
      `${name}: ${samples.length} in ${(ms / 1000).toFixed(1)} s; first ${v.window} → last ${v.window}: ` +
        `GPU ${mib(v.first.gpuBytes)} → ${mib(v.last.gpuBytes)} MiB, ${v.first.gpuBuffers} → ${v.last.gpuBuffers} buffers, ` +
        `heap median ${mib(v.first.heap)} → ${mib(v.last.heap)} MiB (allowed +${mib(v.heapAllowance)}); ` +
        `pool's free scratch up to ${mib(Math.max(...samples.map((s) => s.pooledBytes)))} MiB`,
    );
    expect(v.last.gpuBytes, `${name}: GPU bytes grew`).toBeLessThanOrEqual(v.first.gpuBytes);
    expect(v.last.gpuBuffers, `${name}: GPU buffers grew`).toBeLessThanOrEqual(v.first.gpuBuffers);
    expect(v.last.heap - v.first.heap, `${name}: worker heap grew`).toBeLessThanOrEqual(v.heapAllowance);
  };

  // Questions about the first sample clip, of varying length (so prompts and KV caches vary), answered
  // greedily. The set repeats within the first window, so the first window has met every shape: the
  // engine's uniform-buffer caches (bounded, keyed by content) add buffers for shapes not seen before,
  // and a leak is what still grows once the work repeats.
  await page.getByTestId(`sample-${CLIPS[0].replace(/\.\w+$/, '')}`).click();
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(page.getByTestId('video-vision')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('temperature-input').fill('0');
  const words = 'which way does the square move left right up down first last frame'.split(' ');
  const period = Math.max(1, Math.min(11, Math.floor(QUESTIONS / 2)));
  const questions: Sample[] = [];
  let t0 = Date.now();
  for (let i = 0; i < QUESTIONS; i++) {
    const entries = await page.getByTestId('history-entry').count();
    const k = i % period;
    const n = 3 + ((k * 7) % 11);
    await page
      .getByTestId('question-input')
      .fill(`${Array.from({ length: n }, (_, j) => words[(k + j) % words.length]).join(' ')}?`);
    await page.getByTestId('ask-button').click();
    await expect(page.getByTestId('history-entry')).toHaveCount(entries + 1, { timeout: 60_000 });
    await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
    questions.push(await sample());
  }
  report('questions', questions, Date.now() - t0);

  // Swaps: the sample clips in turn through the file input, each decoded and run through vision.
  const swaps: Sample[] = [];
  t0 = Date.now();
  for (let i = 0; i < SWAPS; i++) {
    const file = CLIPS[(i + 1) % CLIPS.length];
    await page.getByTestId('video-file').setInputFiles(join(SAMPLES_DIR, file));
    await expect(page.getByTestId('video-name')).toHaveText(file, { timeout: 60_000 });
    await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
    await expect(page.getByTestId('video-vision')).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
    swaps.push(await sample());
  }
  report('swaps', swaps, Date.now() - t0);
  expect(errors).toEqual([]);
});
