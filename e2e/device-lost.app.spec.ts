/**
 * A GPU device lost mid-answer in the built app: the engine worker's device is destroyed while tokens
 * stream (captured in the worker as it records work; the app has no hook for it), the page says the
 * device was lost, then that a new one is ready and the model reloaded; the video stays loaded and the
 * next question is answered.
 */
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { loadRandomModel } from './random-model';

const CLIP = join(import.meta.dirname, '..', 'test-data', 'videos', 'androidx_bear-vp9-odd-dimensions.webm');

test('a lost device mid-answer: a new device, the model reloaded, the video kept, the user told', async ({
  page,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  // An answer that is still running when the engine goes (the demo model's ends within a second).
  await loadRandomModel(page);
  const name = (await page.getByTestId('model-name').textContent())?.trim();
  await page.getByTestId('video-file').setInputFiles(CLIP);
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 120_000 });
  await expect(page.getByTestId('video-vision')).toHaveAttribute('data-state', 'done', { timeout: 120_000 });

  const worker = page.workers().find((w) => /engine\.worker/.test(w.url()));
  expect(
    worker,
    page
      .workers()
      .map((w) => w.url())
      .join(', '),
  ).toBeDefined();
  await worker!.evaluate(() => {
    const proto = GPUDevice.prototype as unknown as { createCommandEncoder(...a: unknown[]): unknown };
    const record = proto.createCommandEncoder;
    proto.createCommandEncoder = function (this: GPUDevice, ...a: unknown[]) {
      (self as unknown as { engineDevice: GPUDevice }).engineDevice = this;
      return record.apply(this, a);
    };
  });

  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('max-tokens-input').fill('400');
  await page.getByTestId('question-input').fill('What happens in the video?');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('raw-output')).not.toBeEmpty({ timeout: 120_000 });
  await worker!.evaluate(() => (self as unknown as { engineDevice: GPUDevice }).engineDevice.destroy());

  await expect(page.getByTestId('device-error')).toContainText('The GPU device was lost', {
    timeout: 30_000,
  });
  await expect(page.getByTestId('ask-status')).not.toHaveAttribute('data-state', 'running', {
    timeout: 30_000,
  });
  const recovered = page.getByTestId('device-recovered');
  await expect(recovered).toContainText(`${name} was reloaded`, { timeout: 150_000 });
  await expect(recovered).toContainText('Your video and conversation are kept');
  await expect(page.getByTestId('device-error')).toHaveCount(0);
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('ask-video')).toHaveAttribute('data-has-video', 'true');

  await page.getByTestId('max-tokens-input').fill('4');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.getByTestId('raw-output')).not.toBeEmpty();
});
