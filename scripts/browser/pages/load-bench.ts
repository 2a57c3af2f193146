/**
 * The page side of `npm run bench:load` (scripts/bench/load.ts): the engine worker as the app starts
 * it, an empty offline cache, then a hub model loaded twice: the first load downloads the bf16
 * shards, converts them into OPFS (the 'cache' phase: download and 4-bit quantization) and uploads the
 * copy; the second reads OPFS only. Phase changes go to Node through `window.__loadPhase` (it samples
 * the browser's memory per phase).
 */
import { createEngineClient, type ModelLoadProgress } from '../../../src/engine-client';

export interface LoadBenchArgs {
  repo: string;
  endpoint: string;
}

export interface LoadBenchOutput {
  adapter: string;
  /** bf16 bytes the cache phase downloaded and converted, and its time. */
  bf16Bytes: number;
  cacheMs: number;
  firstLoadMs: number;
  /** The second load (OPFS only): the page's wall time and the engine's own loadMs. */
  cachedLoadMs: number;
  cachedEngineMs: number;
  cachedFrom: string | undefined;
  opfsBytes: number;
}

export async function runLoadBench(args: LoadBenchArgs): Promise<LoadBenchOutput> {
  const phase = (globalThis as unknown as { __loadPhase?: (p: string) => Promise<void> }).__loadPhase;
  const engine = createEngineClient();
  const summary = await engine.init();
  const root = await navigator.storage.getDirectory();
  await root.removeEntry('models', { recursive: true }).catch(() => {});
  const source = { kind: 'hub' as const, repo: args.repo, endpoint: args.endpoint };
  const at = new Map<string, number>();
  let bf16Bytes = 0;
  const onProgress = (p: ModelLoadProgress) => {
    if (!at.has(p.phase)) {
      at.set(p.phase, performance.now());
      void phase?.(p.phase);
    }
    if (p.phase === 'cache' && p.download) bf16Bytes = p.download.totalBytes;
  };
  const t0 = performance.now();
  await engine.loadModel(source, onProgress, { weights: 'q4' });
  const t1 = performance.now();
  void phase?.('cached');
  const again = await engine.loadModel(source, undefined, { weights: 'q4' });
  const t2 = performance.now();
  const [cached] = await engine.cachedModels();
  await engine.dispose();
  return {
    adapter: `${summary.vendor} ${summary.architecture} ${summary.description}`.trim(),
    bf16Bytes,
    cacheMs: (at.get('upload') ?? t1) - (at.get('cache') ?? t0),
    firstLoadMs: t1 - t0,
    cachedLoadMs: t2 - t1,
    cachedEngineMs: again.loadMs,
    cachedFrom: again.cached,
    opfsBytes: cached?.bytes ?? 0,
  };
}
