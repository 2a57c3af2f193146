/**
 * Accessibility: axe-core finds no serious or critical violation on the main views, light and dark
 * (the empty page, a sample clip asked about and answered, the widget's iframe mode); and the ask flow
 * works from the keyboard alone: a sample clip, the settings, the question, Enter, the answer.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, type Locator, type Page, test } from '@playwright/test';

async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Presses Tab until `target` has the focus (it must be reachable without a mouse). */
async function tabTo(page: Page, target: Locator, max = 80): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`not reachable with Tab in ${max} presses: ${target}`);
}

async function askSampleByKeyboard(page: Page): Promise<void> {
  await expect(page.getByTestId('model-name')).toBeVisible({ timeout: 120_000 });
  await tabTo(page, page.getByTestId('sample-red-left'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  // A short answer: the settings fold opens with Enter, the number is typed.
  await tabTo(page, page.getByTestId('sampling-settings').locator('summary'));
  await page.keyboard.press('Enter');
  await tabTo(page, page.getByTestId('max-tokens-input'));
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('8');
  const question = page.getByTestId('question-input');
  await tabTo(page, question);
  await expect(question).toHaveValue('Which way does the red square move?');
  await expect(page.getByTestId('options-input')).toHaveValue('A. left\nB. right\nC. up\nD. down');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
}

test('the ask flow works from the keyboard alone, on a sample clip', async ({ page }) => {
  await page.goto('/');
  await askSampleByKeyboard(page);
  await expect(page.getByTestId('stat-tokens')).toContainText(/\b[1-8]\b/);
  await expect(page.getByTestId('answer-view')).toBeVisible();
  // The answer's status line is announced.
  await expect(page.getByTestId('answer-text')).toHaveAttribute('aria-live', 'polite');
});

for (const colorScheme of ['light', 'dark'] as const) {
  test(`axe: no serious or critical violations, ${colorScheme}`, async ({ browser, baseURL }) => {
    const context = await browser.newContext({ colorScheme, baseURL });
    const page = await context.newPage();
    await page.goto('/');
    await expect(page.locator('html')).toHaveAttribute('data-theme', colorScheme);
    await expect(page.getByTestId('model-name')).toBeVisible({ timeout: 120_000 });
    expect(await seriousViolations(page), 'empty page').toEqual([]);

    await askSampleByKeyboard(page);
    await page.getByTestId('gpu-details').locator('summary').click();
    expect(await seriousViolations(page), 'answered, GPU details open').toEqual([]);

    await page.goto('/embed?src=samples%2Fgreen-up.mp4&max-new-tokens=4');
    await expect(page.locator('video-reasoner')).toBeVisible();
    await expect(page.locator('video-reasoner [part="status"]')).toContainText(/Ready|Video loaded/, {
      timeout: 120_000,
    });
    expect(await seriousViolations(page), 'the widget (iframe mode)').toEqual([]);
    await context.close();
  });
}
