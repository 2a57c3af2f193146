/**
 * src/video/encode-mp4.ts in real Chromium: a moving-squares clip encoded by WebCodecs' VideoEncoder
 * and muxed by mediabunny is an H.264 MP4 that the app's own decode path (src/video) reads back as
 * 24 frames at 8 fps, each close to the frame it was drawn from, with every square's centre in its
 * colour (what the fine-tune view's generator relies on).
 */
import { expect, test } from '@playwright/test';
import { openLibPage } from './video.support';

const MODULES = {
  encode: '/src/video/encode-mp4.ts',
  squares: '/src/rl-lite/tasks/moving-squares.ts',
  sample: '/src/video/sample-video.ts',
};

test('a moving-squares clip round-trips through VideoEncoder + mediabunny and the app’s decoder', async ({
  page,
}) => {
  await openLibPage(page, MODULES.encode);
  const r = await page.evaluate(async (M) => {
    const enc: typeof import('../src/video/encode-mp4') = await import(M.encode);
    const sq: typeof import('../src/rl-lite/tasks/moving-squares') = await import(M.squares);
    const sv: typeof import('../src/video/sample-video') = await import(M.sample);
    const clip = {
      squares: [
        { colour: 'red' as const, direction: 'right' as const, x0: 4, y0: 20 },
        { colour: 'blue' as const, direction: 'up' as const, x0: 90, y0: 100 },
      ],
      asked: 0,
    };
    const frames = Array.from({ length: sq.CLIP_FRAMES }, (_, t) => sq.renderFrame(clip, t));
    const blob = await enc.encodeMp4({ width: sq.CLIP_SIZE, height: sq.CLIP_SIZE, fps: sq.CLIP_FPS, frames });
    const { plan, frames: decoded } = await sv.sampleVideo(blob, {
      method: { kind: 'uniform', n: sq.CLIP_FRAMES },
    });
    const canvas = new OffscreenCanvas(sq.CLIP_SIZE, sq.CLIP_SIZE);
    const g = canvas.getContext('2d')!;
    let worstMae = 0;
    let worstCentre = 0;
    for (const [t, { frame }] of decoded.entries()) {
      g.drawImage(frame, 0, 0);
      frame.close();
      const got = g.getImageData(0, 0, sq.CLIP_SIZE, sq.CLIP_SIZE).data;
      const want = frames[t];
      let err = 0;
      for (let i = 0; i < got.length; i += 4)
        for (let c = 0; c < 3; c++) err += Math.abs(got[i + c] - want[i + c]);
      worstMae = Math.max(worstMae, err / ((got.length / 4) * 3));
      for (const s of clip.squares) {
        const p = sq.squareAt(s, t);
        const o = ((p.y + 8) * sq.CLIP_SIZE + p.x + 8) * 4;
        const rgb = sq.COLOUR_RGB[s.colour];
        for (let c = 0; c < 3; c++) worstCentre = Math.max(worstCentre, Math.abs(got[o + c] - rgb[c]));
      }
    }
    return {
      type: blob.type,
      bytes: blob.size,
      codec: plan.facts.codecString,
      frameCount: plan.facts.frameCount,
      durationS: plan.facts.durationS,
      decoded: decoded.length,
      worstMae,
      worstCentre,
    };
  }, MODULES);
  expect(r.type).toBe('video/mp4');
  expect(r.codec).toMatch(/^avc1\./);
  expect(r.frameCount).toBe(24);
  expect(r.durationS).toBeCloseTo(3, 1);
  expect(r.decoded).toBe(24);
  // 128 px at 400 kbit/s with 4:2:0 chroma: edges blur a little, flat areas stay put.
  expect(r.worstMae).toBeLessThan(6);
  expect(r.worstCentre).toBeLessThan(40);
  console.log(
    `encode-mp4: ${r.bytes} bytes, worst frame MAE ${r.worstMae.toFixed(2)}, worst centre error ${r.worstCentre}`,
  );
});
