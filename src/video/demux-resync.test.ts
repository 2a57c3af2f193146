/**
 * Regressions: damaged WebMs on which mediabunny 1.61's Matroska demuxer looped forever
 * (testing/hang-cases.ts; fixed by patches/mediabunny+1.61.0.patch). The loops were synchronous, so
 * no timer in the same thread can stop them: openVideo runs in a worker thread that is terminated
 * at a deadline, and a hang fails this test instead of hanging the runner.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { HANG_CASES } from './testing/hang-cases';

/** Worker start (tsx) plus the open; the open itself takes ~10 ms here. */
const DEADLINE_MS = 30_000;

type Outcome =
  | { opened: number; ms: number }
  | { error: { name: string; kind?: string; message: string }; ms: number };

/** Loads demux.ts through tsx in a fresh worker thread, opens `bytes` and reports the outcome. */
const WORKER = `(async () => {
  const { parentPort, workerData } = require('node:worker_threads');
  const { tsImport } = await import(workerData.tsxApi);
  const { openVideo } = await tsImport(workerData.demux, workerData.demux);
  const t0 = performance.now();
  try {
    const v = await openVideo(new File([workerData.bytes], workerData.name));
    parentPort.postMessage({ opened: v.facts.frameCount, ms: performance.now() - t0 });
  } catch (e) {
    parentPort.postMessage({ error: { name: e?.name, kind: e?.kind, message: String(e?.message) }, ms: performance.now() - t0 });
  }
})();`;

function openInWorker(bytes: Uint8Array, name: string): Promise<Outcome> {
  const w = new Worker(WORKER, {
    eval: true,
    workerData: {
      bytes,
      name,
      tsxApi: import.meta.resolve('tsx/esm/api'),
      demux: new URL('./demux.ts', import.meta.url).href,
    },
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Promise<Outcome>((resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`openVideo did not settle in ${DEADLINE_MS} ms (a synchronous loop?)`)),
      DEADLINE_MS,
    );
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker exited (${code}) without an outcome`)));
  }).finally(() => {
    // terminate() also stops a worker spinning in a synchronous loop.
    clearTimeout(timer);
    void w.terminate();
  });
}

const clip = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../test-data/videos/${name}`, import.meta.url)));

it.each(HANG_CASES)(
  '$what: opens or is refused as a VideoError, without hanging',
  async ({ name, damage }) => {
    const out = await openInWorker(damage(clip(name)), name);
    if ('error' in out) {
      expect(out.error.name, out.error.message).toBe('VideoError');
      expect(['corrupt', 'no-frames', 'no-video-track', 'not-video']).toContain(out.error.kind);
      expect(out.error.message).toContain(name);
    } else {
      expect(out.opened).toBeGreaterThan(0);
    }
    expect(out.ms).toBeLessThan(5_000);
  },
  DEADLINE_MS + 5_000,
);
