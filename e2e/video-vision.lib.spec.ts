/**
 * Vision ahead of the question in real Chromium (engine worker, WebCodecs, WebGPU on SwiftShader),
 * tiny-a loaded first: a dropped clip's frames go through the vision tower chunk by chunk while it
 * decodes (progress per chunk of 4), the question then only waits, and its vision features are
 * bit-identical to the sequential path's (vision at ask time) on the same clip.
 */
import { expect, test } from '@playwright/test';
import type { VisionProgress } from '../src/engine-client';
import { openLibPage } from './video.support';

const CLIP = '/test-data/videos/androidx_bear-vp9-odd-dimensions.webm';

test('streamed vision: per-chunk progress, the ask waits only, features equal the sequential path', async ({
  page,
}) => {
  test.setTimeout(300_000);
  page.on('console', (m) => m.type() === 'error' && console.log('[page]', m.text()));
  await openLibPage(page, '/src/engine-client/index.ts');
  const out = await page.evaluate(async (clip) => {
    const client = '/src/engine-client/index.ts';
    const { createEngineClient }: typeof import('../src/engine-client') = await import(
      /* @vite-ignore */ client
    );
    const engine = createEngineClient();
    try {
      await engine.init();
      await engine.loadModel({ kind: 'url', baseUrl: '/models/tiny-a/' });
      const events: VisionProgress[] = [];
      await engine.watchVision((p: VisionProgress) => void events.push(p));
      const file = await (await fetch(clip)).blob();
      const question = { question: 'What moves?', sampling: { temperature: 0, maxNewTokens: 1 }, dump: true };
      const run = async (visionAhead: boolean, job: string) => {
        const r = await engine.videoLoad(
          job,
          { kind: 'file', file },
          { method: { kind: 'uniform', n: 16 }, visionAhead },
        );
        if (r.status !== 'loaded') throw new Error(r.reason);
        for (const t of r.video.thumbnails) t.close();
        const a = await engine.ask({ ...question, reuseVisual: false });
        return { key: r.video.key, stages: a.stats.stages, features: a.dump!.visionFeatures!, ids: a.ids };
      };
      const streamed = await run(true, 'a');
      const sequential = await run(false, 'b');
      let same = streamed.features.length === sequential.features.length;
      for (let i = 0; same && i < streamed.features.length; i++)
        same = Object.is(streamed.features[i], sequential.features[i]);
      // Let the last progress events cross the worker boundary.
      const t0 = performance.now();
      while (
        !events.some((e) => e.videoKey === streamed.key && e.state === 'cancelled') &&
        performance.now() - t0 < 10_000
      )
        await new Promise((r) => setTimeout(r, 50));
      return {
        same,
        length: streamed.features.length,
        idsEqual: JSON.stringify(streamed.ids) === JSON.stringify(sequential.ids),
        streamed: streamed.stages,
        sequential: sequential.stages,
        events: events.filter((e) => e.videoKey === streamed.key).map((e) => [e.state, e.framesDone]),
        sequentialEvents: events.filter((e) => e.videoKey === sequential.key).length,
      };
    } finally {
      engine.terminate();
    }
  }, CLIP);
  expect(out.length).toBeGreaterThan(0);
  expect(out.same).toBe(true);
  expect(out.idsEqual).toBe(true);
  expect(out.events).toEqual([
    ['running', 0],
    ['running', 4],
    ['running', 8],
    ['running', 12],
    ['done', 16],
    // The second load replaced the clip: its features were dropped.
    ['cancelled', 16],
  ]);
  expect(out.sequentialEvents).toBe(0);
  expect(out.streamed.visionAhead?.frames).toBe(16);
  expect(out.streamed.preprocessMs).toBe(0);
  expect(out.sequential.visionAhead).toBeUndefined();
  expect(out.sequential.preprocessMs).toBeGreaterThan(0);
  console.log('streamed', JSON.stringify(out.streamed), '\nsequential', JSON.stringify(out.sequential));
});
