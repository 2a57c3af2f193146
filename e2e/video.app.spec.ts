/**
 * The built app, as a user drives it: drop / pick / URL a video, see the filmstrip and the facts; every
 * bad input shows its message and the app stays usable (the tests run in order on one page).
 */
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { clipPath, ensureClips, GEN_DIR, REAL_DIR, ROOT } from './video.support';

test.describe.configure({ mode: 'serial' });

let page: Page;
const pageErrors: string[] = [];

test.beforeAll(async ({ browser }) => {
  ensureClips('small');
  ensureClips('long');
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('video-dropzone')).toBeVisible();
});

test.afterAll(async () => {
  await page?.close();
});

const panel = () => page.getByTestId('video-panel');

async function pick(dir: string, file: string): Promise<void> {
  await page.getByTestId('video-file').setInputFiles(clipPath(dir, file));
}

async function expectLoaded(name: string, frames: number): Promise<void> {
  await expect(panel()).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('video-name')).toHaveText(name);
  await expect(page.getByTestId('filmstrip-frame')).toHaveCount(frames);
}

async function expectError(kind: string, message: RegExp): Promise<void> {
  const box = page.getByTestId('video-error');
  await expect(box).toHaveAttribute('data-kind', kind);
  await expect(box).toContainText(message);
  await expect(page.getByTestId('video-file')).toBeEnabled();
}

const indices = () =>
  page
    .getByTestId('filmstrip-frame')
    .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-index'))));

test('pick a file: filmstrip of 16 frames with timestamps, and the facts', async () => {
  await pick(REAL_DIR, 'mdn_flower.mp4');
  await expectLoaded('mdn_flower.mp4', 16);
  expect(await indices()).toEqual([0, 9, 19, 29, 39, 49, 59, 69, 79, 89, 99, 109, 119, 129, 139, 149]);
  await expect(page.getByTestId('filmstrip-frame').last()).toContainText('0:04.972');
  await expect(page.getByTestId('video-fact-container')).toHaveText('MP4');
  await expect(page.getByTestId('video-fact-codec')).toHaveText('avc1.64001f');
  await expect(page.getByTestId('video-fact-size')).toHaveText('960×540');
  await expect(page.getByTestId('video-fact-frames')).toContainText('150');
  await expect(page.getByTestId('video-fact-fps')).toHaveText('29.97 fps');
  await expect(page.getByTestId('video-fact-path')).toContainText('WebCodecs VideoDecoder');
  await expect(page.getByTestId('video-fact-time')).toContainText('packets decoded');
  // Thumbnails are drawn (not blank).
  const lit = await page
    .getByTestId('filmstrip-frame')
    .nth(5)
    .locator('canvas')
    .evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
      return sum / (d.length / 4) / 3;
    });
  expect(lit).toBeGreaterThan(10);
});

test('drop a file: rotated clip shows upright size', async () => {
  const bytes = readFileSync(clipPath(REAL_DIR, 'mediabunny_rotate-buck-bunny.mp4')).toString('base64');
  const dataTransfer = await page.evaluateHandle((b64) => {
    const bin = atob(b64);
    const buf = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    const dt = new DataTransfer();
    dt.items.add(new File([buf], 'mediabunny_rotate-buck-bunny.mp4', { type: 'video/mp4' }));
    return dt;
  }, bytes);
  await page.getByTestId('video-dropzone').dispatchEvent('drop', { dataTransfer });
  await expectLoaded('mediabunny_rotate-buck-bunny.mp4', 16);
  await expect(page.getByTestId('video-fact-size')).toContainText('1080×1920 (coded 1920×1080, rotated 90°)');
});

test('a URL (CORS and range requests allowed)', async () => {
  const path = clipPath(REAL_DIR, 'androidx_bear-vp9-odd-dimensions.webm');
  const body = readFileSync(path);
  await page.context().route('https://videos.example/bear.webm', async (route) => {
    const range = /bytes=(\d+)-(\d*)/.exec(route.request().headers().range ?? '');
    const headers = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'Content-Range, Content-Length',
      'Accept-Ranges': 'bytes',
      'Content-Type': 'video/webm',
    };
    if (!range) return route.fulfill({ status: 200, headers, body });
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
    await route.fulfill({
      status: 206,
      headers: { ...headers, 'Content-Range': `bytes ${start}-${end}/${body.length}` },
      body: body.subarray(start, end + 1),
    });
  });
  await page.getByTestId('video-url').fill('https://videos.example/bear.webm');
  await page.getByRole('button', { name: 'Load URL' }).click();
  await expectLoaded('bear.webm', 16);
  await expect(page.getByTestId('video-fact-size')).toHaveText('161×121');
});

test('8 frames, and one every k seconds', async () => {
  await page.getByTestId('video-method').selectOption('8');
  await pick(REAL_DIR, 'mdn_flower.mp4');
  await expectLoaded('mdn_flower.mp4', 8);
  expect(await indices()).toEqual([0, 21, 42, 63, 85, 106, 127, 149]);
  await page.getByTestId('video-method').selectOption('every');
  await pick(REAL_DIR, 'mediabunny_cursed-vfr.mp4');
  // 8.7 s at one per second, but this VFR clip holds some frames over a second: 6 distinct frames.
  await expectLoaded('mediabunny_cursed-vfr.mp4', 6);
  await page.getByTestId('video-method').selectOption('16');
});

test('the <video> element path, when asked for: the facts say so', async () => {
  await page.getByText('Advanced').click();
  await page.getByTestId('video-force-element').check();
  await pick(REAL_DIR, 'mdn_flower.mp4');
  await expectLoaded('mdn_flower.mp4', 16);
  await expect(page.getByTestId('video-fact-path')).toContainText(
    '<video> element fallback (requested in the settings',
  );
  await page.getByTestId('video-force-element').uncheck();
});

test('fewer frames than N repeats frames; a one-frame clip', async () => {
  await pick(GEN_DIR, 'five-frames.webm');
  await expectLoaded('five-frames.webm', 16);
  expect(await indices()).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4]);
  await pick(REAL_DIR, 'mp4parse_tiny_av1.mp4');
  await expectLoaded('mp4parse_tiny_av1.mp4', 16);
  expect(await indices()).toEqual(new Array(16).fill(0));
});

test('bad inputs each show their message; the loaded video stays', async () => {
  const cases: [string, string, string, RegExp][] = [
    [GEN_DIR, 'not-a-video.mp4', 'not-video', /not a video/],
    [GEN_DIR, 'audio-only.m4a', 'no-video-track', /audio but no video track/],
    [GEN_DIR, 'zero-frames.mp4', 'no-frames', /no frames/],
    [GEN_DIR, 'truncated.mp4', 'corrupt', /truncated or damaged/],
    [REAL_DIR, 'androidx_h265_bframes.mp4', 'unsupported-codec', /cannot play it either/],
  ];
  for (const [dir, file, kind, message] of cases) {
    await pick(dir, file);
    await expectError(kind, message);
    await expect(page.getByTestId('video-error')).toContainText('Still loaded: mp4parse_tiny_av1.mp4');
  }
  // HEVC: the UI said which path it tried and why.
  await expect(page.getByTestId('video-error')).toContainText(/cannot play it either/);
  // Still usable.
  await pick(REAL_DIR, 'androidx_sample_av1.mp4');
  await expectLoaded('androidx_sample_av1.mp4', 16);
  await expect(page.getByTestId('video-error')).toHaveCount(0);
});

test('cancel a decode', async () => {
  await page.getByTestId('video-method').selectOption('every');
  // The click races the decode; on a fast machine the load may win, so try a few times.
  let cancelled = false;
  for (let attempt = 0; attempt < 3 && !cancelled; attempt++) {
    await pick(GEN_DIR, 'long-10min-160x90.mp4');
    await page
      .getByTestId('video-cancel')
      .click({ timeout: 5_000 })
      .catch(() => {});
    await expect(panel()).not.toHaveAttribute('data-state', 'loading');
    cancelled =
      (await page
        .getByTestId('video-error')
        .getAttribute('data-kind')
        .catch(() => null)) === 'cancelled';
  }
  expect(cancelled).toBe(true);
  await expectError('cancelled', /cancelled/);
  await page.getByTestId('video-method').selectOption('16');
});

test('a 32 GiB file (sparse) streams from disk', async () => {
  const sparse = join(ROOT, GEN_DIR, 'sparse-32g-app.mp4');
  if (!existsSync(sparse)) {
    copyFileSync(clipPath(GEN_DIR, 'long-10min-160x90.mp4'), sparse);
    truncateSync(sparse, 32 * 2 ** 30);
  }
  try {
    expect(statSync(sparse).size).toBe(32 * 2 ** 30);
    await page.getByTestId('video-file').setInputFiles(sparse);
    await expectLoaded('sparse-32g-app.mp4', 16);
    await expect(page.getByTestId('video-fact-file-size')).toHaveText('32 GiB');
    await expect(page.getByTestId('video-fact-frames')).toContainText('18,000');
  } finally {
    rmSync(sparse, { force: true });
  }
  expect(pageErrors).toEqual([]);
});
