/**
 * `npm run bench:load [-- --fixture tiny-b]`: the model loader in headless Chromium (the harness's
 * software WebGPU) against the stand-in hub (CDN redirects, Range): download-and-quantize throughput
 * (MB/s of bf16 in, the 'cache' phase: shards downloaded a few at a time, quantized to 4 bits and
 * written to OPFS), the time of the next, cached load (OPFS only), the browser's peak resident memory
 * during the cache phase (all Chromium processes, /proc) against its level before the load, and the
 * OPFS bytes of the real TinyLLaVA-Video-R1 computed from its shapes. Writes artifacts/bench-load.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { convertedBytes } from '../../src/model/engine-format';
import { ENGINE_Q4 } from '../../src/model/load';
import { fixtureFiles } from '../../src/model/testing/goldens';
import { startHubServer } from '../../src/model/testing/hub-server';
import { expectedTensors } from '../../src/model/weight-manifest';
import { openHarness, ROOT } from '../browser/harness';
import type { LoadBenchArgs, LoadBenchOutput } from '../browser/pages/load-bench';
import { chromiumRssByType } from '../browser/rss';
import { r1Config } from './synthetic-model';

const PAGE_MODULE = '/scripts/browser/pages/load-bench.ts';
const MB = 1e6;
const MiB = 2 ** 20;

async function main() {
  const { values } = parseArgs({ options: { fixture: { type: 'string', default: 'tiny-b' } } });
  const fixture = values.fixture!;
  const repo = `bench/${fixture}`;
  const hub = await startHubServer({ repo, files: fixtureFiles(fixture) });
  const harness = await openHarness({ module: PAGE_MODULE });
  try {
    const { page, marker } = harness;
    // Peak resident memory per load phase and process type (renderer: the page and the engine
    // worker; gpu-process: SwiftShader's buffers), sampled every 50 ms.
    let phase = 'before';
    const peak = new Map<string, number>();
    const sample = () => {
      const byType = chromiumRssByType(marker);
      let total = 0;
      for (const [type, n] of byType) {
        total += n;
        peak.set(`${phase}:${type}`, Math.max(peak.get(`${phase}:${type}`) ?? 0, n));
      }
      peak.set(`${phase}:all`, Math.max(peak.get(`${phase}:all`) ?? 0, total));
    };
    sample();
    const timer = setInterval(sample, 50);
    await page.exposeFunction('__loadPhase', (p: string) => {
      sample();
      phase = p;
    });
    const args: LoadBenchArgs = { repo, endpoint: hub.endpoint };
    const out = (await page.evaluate(
      ([m, a]) => import(/* @vite-ignore */ m).then((x) => x.runLoadBench(a)),
      [PAGE_MODULE, args] as const,
    )) as LoadBenchOutput;
    clearInterval(timer);
    const realOpfs = convertedBytes(
      expectedTensors(r1Config()).filter((t) => t.used),
      ENGINE_Q4,
    );
    const result = {
      fixture,
      adapter: out.adapter,
      chromium: harness.version,
      downloadQuantizeMBps: out.bf16Bytes / MB / (out.cacheMs / 1000),
      bf16Bytes: out.bf16Bytes,
      cacheMs: out.cacheMs,
      firstLoadMs: out.firstLoadMs,
      cachedLoadMs: out.cachedLoadMs,
      cachedEngineMs: out.cachedEngineMs,
      cachedFrom: out.cachedFrom,
      fixtureOpfsBytes: out.opfsBytes,
      rssMiB: Object.fromEntries([...peak].map(([k, v]) => [k, Math.round(v / MiB)])),
      realModelOpfsBytes: realOpfs,
      date: new Date().toISOString(),
    };
    console.log(
      `${fixture} on ${out.adapter} (Chromium ${harness.version}):\n` +
        `  download + quantize into OPFS: ${(out.bf16Bytes / MB).toFixed(1)} MB of bf16 in ${(out.cacheMs / 1000).toFixed(2)} s → ${result.downloadQuantizeMBps.toFixed(1)} MB/s\n` +
        `  first load ${(out.firstLoadMs / 1000).toFixed(2)} s; cached load (OPFS, ${out.cachedFrom}) ${(out.cachedLoadMs / 1000).toFixed(2)} s (engine ${(out.cachedEngineMs / 1000).toFixed(2)} s)\n` +
        `  peak resident memory (MiB) before the load / opening it (no weights yet) / downloading and quantizing: ${[
          'renderer',
          'gpu-process',
          'all',
        ]
          .map(
            (t) =>
              `${t} ${['before', 'open', 'cache'].map((p) => result.rssMiB[`${p}:${t}`] ?? 0).join(' / ')}`,
          )
          .join(', ')}\n` +
        `  OPFS: the fixture ${(out.opfsBytes / MB).toFixed(1)} MB; the real model (from its shapes) ${(realOpfs / 1e9).toFixed(2)} GB of weights`,
    );
    mkdirSync(join(ROOT, 'artifacts'), { recursive: true });
    writeFileSync(join(ROOT, 'artifacts', 'bench-load.json'), JSON.stringify(result, null, 2));
  } finally {
    await harness.close();
    await hub.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
