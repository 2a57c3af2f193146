/**
 * `npm run bench:video [-- --reps 3 --n 16,64 --decoders 1,2 --clips a.mp4,b.webm]`
 *
 * Time to N uniformly sampled frames of 60 s 720p clips (made by scripts/make-test-clips.sh bench:
 * H.264 x264-default GOP 250, H.264 1 s GOP, VP9), ours (mediabunny + WebCodecs, each GOP decoded once,
 * GOPs split across D decoders) against seeking an HTMLVideoElement and drawing each frame to a canvas
 * (transformers.js's way), in the same headless Chromium page, in the same run, alternating order.
 * Reports medians, ratios (element ÷ ours: > 1 means ours is faster), JS heap peaks and the browser's
 * peak resident memory (all Chromium processes, sampled from /proc). Writes artifacts/bench-video.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileIntoPage, openHarness, ROOT } from '../browser/harness';
import type { RunTiming } from '../browser/pages/video-bench';
import { withRssPeak } from '../browser/rss';

const BENCH = '/scripts/browser/pages/video-bench.ts';
type Bench = typeof import('../browser/pages/video-bench');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Row {
  clip: string;
  n: number;
  method: string;
  msMedian: number;
  msAll: number[];
  heapPeakMiB: number;
  rssPeakMiB: number;
  work: number;
  planned?: number;
  peakOpenFrames?: number;
}

async function main() {
  const reps = Number(arg('--reps', '3'));
  const ns = arg('--n', '16,64').split(',').map(Number);
  const decoderCounts = arg('--decoders', '1,2').split(',').map(Number);
  execFileSync('bash', [join(ROOT, 'scripts/make-test-clips.sh'), 'bench'], { stdio: 'inherit' });
  const clips = arg('--clips', 'bench-h264-gop250.mp4,bench-h264-gop30.mp4,bench-vp9.webm').split(',');
  const browser = await openHarness({ module: BENCH });
  const { page } = browser;
  const rows: Row[] = [];
  const cpu = execFileSync('nproc', { encoding: 'utf8' }).trim();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `headless Chromium ${browser.version}, ${cpu} CPU cores, load average at start ${load}; ${reps} reps, medians\n`,
  );
  try {
    for (const clip of clips) {
      await fileIntoPage(page, join(ROOT, '.cache/video-clips', clip));
      for (const n of ns) {
        const plan = await page.evaluate(
          async ({ BENCH, n }) => {
            const b: Bench = await import(BENCH);
            return b.seekTimesFor((document.getElementById('cli-file') as HTMLInputElement).files![0], n);
          },
          { BENCH, n },
        );
        const methods: { name: string; run: () => Promise<RunTiming> }[] = [
          ...[
            ...decoderCounts.map((d) => ({ d, skip: true })),
            { d: Math.max(...decoderCounts), skip: false },
          ].map(({ d, skip }) => ({
            name: `ours, ${d} decoder${d > 1 ? 's' : ''}${skip ? '' : ', no B-skip'}`,
            run: () =>
              page.evaluate(
                async ({ BENCH, n, d, skip }) => {
                  const b: Bench = await import(BENCH);
                  return b.runOurs(
                    (document.getElementById('cli-file') as HTMLInputElement).files![0],
                    n,
                    d,
                    skip,
                  );
                },
                { BENCH, n, d, skip },
              ),
          })),
          ...[true, false].map((readPixels) => ({
            name: readPixels ? 'element: seek + draw + getImageData' : 'element: seek + draw',
            run: () =>
              page.evaluate(
                async ({ BENCH, seek, readPixels }) => {
                  const b: Bench = await import(BENCH);
                  const file = (document.getElementById('cli-file') as HTMLInputElement).files![0];
                  return b.runElement(file, seek, readPixels);
                },
                { BENCH, seek: plan.seekTimesUs, readPixels },
              ),
          })),
        ];
        const results = new Map<string, { t: RunTiming[]; rss: number[] }>();
        for (let r = 0; r < reps; r++) {
          // Alternate the order so drift in machine load falls on both sides.
          const order = r % 2 ? [...methods].reverse() : methods;
          for (const m of order) {
            const [t, rss] = await withRssPeak(browser.marker, m.run);
            const e = results.get(m.name) ?? { t: [], rss: [] };
            e.t.push(t);
            e.rss.push(rss);
            results.set(m.name, e);
          }
        }
        for (const m of methods) {
          const e = results.get(m.name)!;
          rows.push({
            clip,
            n,
            method: m.name,
            msMedian: median(e.t.map((t) => t.ms)),
            msAll: e.t.map((t) => Math.round(t.ms)),
            heapPeakMiB: Math.max(...e.t.map((t) => t.heapPeakBytes)) / 2 ** 20,
            rssPeakMiB: Math.max(...e.rss) / 2 ** 20,
            work: e.t[0].work,
            planned: e.t[0].planned,
            peakOpenFrames: e.t[0].peakOpenFrames,
          });
        }
        printBlock(clip, n, plan.frameCount, plan.gops, rows.slice(-methods.length));
      }
    }
  } finally {
    await browser.close();
  }
  mkdirSync(join(ROOT, 'artifacts'), { recursive: true });
  writeFileSync(
    join(ROOT, 'artifacts/bench-video.json'),
    `${JSON.stringify({ date: new Date().toISOString(), cpu, load, rows }, null, 2)}\n`,
  );
  console.log('wrote artifacts/bench-video.json');
}

function printBlock(clip: string, n: number, frames: number, gops: number, rows: Row[]): void {
  const ours = rows.filter((r) => r.method.startsWith('ours'));
  const best = ours.reduce((a, b) => (b.msMedian < a.msMedian ? b : a));
  console.log(`${basename(clip)} — ${n} of ${frames} frames, ${gops} key frames`);
  for (const r of rows) {
    const ratio = r.method.startsWith('element')
      ? `  ${(r.msMedian / best.msMedian).toFixed(2)}× ours (best)`
      : '';
    const work = r.method.startsWith('ours')
      ? `${r.work} of ${r.planned} packets decoded, ≤${r.peakOpenFrames} frames open`
      : `${r.work} seeks`;
    console.log(
      `  ${r.method.padEnd(38)} ${String(Math.round(r.msMedian)).padStart(6)} ms  [${r.msAll.join(', ')}]  ` +
        `heap +${r.heapPeakMiB.toFixed(1)} MiB, browser RSS peak ${r.rssPeakMiB.toFixed(0)} MiB, ${work}${ratio}`,
    );
  }
  console.log('');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
