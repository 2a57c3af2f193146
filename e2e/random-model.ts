/**
 * The random fixture tiny-a (public/models/tiny-a, `npm run fixtures`), loaded by URL in place of the
 * shipped demo model, for the specs that need an answer still running when they act (Stop, a lost
 * device, an ended worker): its answers never end by themselves, while the trained demo model ends
 * its ~40-token answer well within a second.
 */
import { expect, type Page } from '@playwright/test';

export async function loadRandomModel(page: Page): Promise<void> {
  await page.getByTestId('model-url-input').fill('/models/tiny-a/');
  await page.getByTestId('model-url-load').click();
  await expect(page.getByTestId('model-name')).toHaveText('tiny-a', { timeout: 120_000 });
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready');
}
