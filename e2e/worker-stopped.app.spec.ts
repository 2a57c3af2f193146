/**
 * The engine worker ends mid-answer in the built app (closed from inside, as a crash or a kill would
 * end it: no error event reaches the page): the page notices (the worker's Web Lock frees), says so,
 * starts a new engine, loads the model and the video again, keeps the conversation, and answers.
 */
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { loadRandomModel } from './random-model';

const CLIP = join(import.meta.dirname, '..', 'test-data', 'videos', 'androidx_bear-vp9-odd-dimensions.webm');

test('a worker ended mid-answer: a new engine, the model and video loaded again, the history kept', async ({
  page,
}) => {
  test.setTimeout(300_000); // two loads of the model and the video, three answers
  await page.goto('/');
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  // An answer that is still running when the engine goes (the demo model's ends within a second).
  await loadRandomModel(page);
  const name = (await page.getByTestId('model-name').textContent())?.trim();
  await page.getByTestId('video-file').setInputFiles(CLIP);
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 120_000 });

  // A first answer, so the conversation has something to keep.
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('max-tokens-input').fill('2');
  await page.getByTestId('question-input').fill('What is in the video?');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  const entries = await page.getByTestId('history-entry').count();
  expect(entries).toBeGreaterThan(0);

  const engine = () => page.workers().find((w) => /engine\.worker/.test(w.url()));
  const first = engine();
  expect(first).toBeDefined();
  await page.getByTestId('max-tokens-input').fill('400');
  await page.getByTestId('question-input').fill('What happens in the video?');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('raw-output')).not.toBeEmpty({ timeout: 120_000 });
  await first!.evaluate(() => self.close()).catch(() => {});

  await expect(page.getByTestId('device-error')).toContainText('The engine stopped unexpectedly', {
    timeout: 30_000,
  });
  await expect(page.getByTestId('ask-status')).not.toHaveAttribute('data-state', 'running', {
    timeout: 30_000,
  });
  const recovered = page.getByTestId('device-recovered');
  await expect(recovered).toContainText(`${name} was loaded again`, { timeout: 150_000 });
  await expect(recovered).toContainText('Your video and conversation are kept');
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('ask-video')).toHaveAttribute('data-has-video', 'true');
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 120_000 });
  expect(await page.getByTestId('history-entry').count()).toBeGreaterThanOrEqual(entries);
  expect(engine()).not.toBe(first);

  await page.getByTestId('max-tokens-input').fill('4');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.getByTestId('raw-output')).not.toBeEmpty();
});
