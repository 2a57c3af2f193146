import { mkdirSync, writeFileSync } from 'node:fs';
import { expect, type Page, test } from '@playwright/test';

test('shows the adapter and every kernel passes the in-page self-test', async ({ page }, testInfo) => {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Video Reasoner' })).toBeVisible();
  await expect(page.getByTestId('video-dropzone')).toBeVisible();

  // The adapter, as the engine worker reports it.
  const vendor = (await page.getByTestId('adapter-vendor').locator('dd').textContent())?.trim() ?? '';
  const architecture =
    (await page.getByTestId('adapter-architecture').locator('dd').textContent())?.trim() ?? '';
  const description =
    (await page.getByTestId('adapter-description').locator('dd').textContent())?.trim() ?? '';
  expect(`${vendor} ${architecture}`).toMatch(/[a-z0-9]/i);
  await expect(page.getByTestId('adapter-f16')).toContainText(/Yes|No/);
  await expect(page.getByTestId('adapter-subgroups')).toContainText(/Yes|No/);
  await expect(page.getByTestId('adapter-max-binding')).toContainText(/iB/);

  // The self-test starts by itself once the adapter is ready; it sits in the folded GPU details.
  const details = page.getByTestId('gpu-details');
  await expect(details).not.toHaveAttribute('open');
  const status = page.getByTestId('selftest-status');
  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.getByTestId('gpu-details-status')).toContainText(/kernels (pass|failed)/);
  await details.locator('summary').click();
  await expect(page.getByTestId('selftest-run')).toBeVisible();
  const rows = page.getByTestId('selftest-row');
  const total = await rows.count();
  const failedRows = page.locator('[data-testid="selftest-row"][data-ok="false"]');
  const failed = await failedRows.count();
  const failures = failed ? await failedRows.allInnerTexts() : [];

  // Written before asserting, so `npm test` reports the counts even when a kernel fails.
  mkdirSync('artifacts', { recursive: true });
  const adapter = [vendor, architecture, description].filter((s) => s && s !== '—').join(' ');
  writeFileSync(
    'artifacts/e2e-selftest.json',
    JSON.stringify({ adapter, passed: total - failed, total, failures }, null, 2),
  );
  const shot = await page.screenshot({ path: 'artifacts/app-selftest.png', fullPage: true });
  await testInfo.attach('app-selftest', { body: shot, contentType: 'image/png' });

  expect(total).toBeGreaterThan(0);
  expect(failures, failures.join('\n')).toEqual([]);
  await expect(page.getByTestId('selftest-run')).toBeEnabled();
  expect(pageErrors).toEqual([]);
});

test('the theme toggle works from the keyboard', async ({ page }) => {
  await page.goto('/');
  const html = page.locator('html');
  await expect(html).toHaveAttribute('data-theme', /light|dark/);
  const before = await html.getAttribute('data-theme');
  const toggle = page.getByTestId('theme-toggle');
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(html).toHaveAttribute('data-theme', before === 'dark' ? 'light' : 'dark');
  await expect(toggle).toHaveAccessibleName(/Switch to (light|dark) theme/);
  await page.screenshot({ path: `artifacts/app-${before === 'dark' ? 'light' : 'dark'}.png` });
});

test('the theme follows the system preference by default', async ({ browser }) => {
  const context = await browser.newContext({ colorScheme: 'dark' });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await context.close();
});

/**
 * Runs the engine worker with a line of code prepended, to play a browser without WebGPU (or without
 * an adapter) whatever the test machine has.
 */
async function patchWorker(page: Page, prelude: string): Promise<void> {
  await page.route('**/engine.worker*.js', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: `${prelude}\n${await response.text()}` });
  });
}

test('without WebGPU the page says which browsers to use', async ({ page }) => {
  await patchWorker(
    page,
    "Object.defineProperty(WorkerNavigator.prototype, 'gpu', { get: () => undefined });",
  );
  await page.goto('/');
  const error = page.getByTestId('gpu-error');
  await expect(error).toBeVisible();
  await expect(error).toHaveAttribute('data-kind', 'no-webgpu');
  await expect(error).toContainText('WebGPU is not available');
  await expect(error).toContainText('Chrome or Edge 113+');
  await expect(error).toContainText('Safari 26+');
  await expect(page.getByTestId('selftest-run')).toBeDisabled();
  await page.screenshot({ path: 'artifacts/app-no-webgpu.png', fullPage: true });
});

test('without a GPU adapter the page says so', async ({ page }) => {
  await patchWorker(page, 'GPU.prototype.requestAdapter = async () => null;');
  await page.goto('/');
  const error = page.getByTestId('gpu-error');
  await expect(error).toHaveAttribute('data-kind', 'no-adapter');
  await expect(error).toContainText('no GPU adapter');
  await expect(page.getByTestId('selftest-status')).toHaveAttribute('data-state', 'idle');
});

test('question presets fill the question box, from the keyboard too', async ({ page }) => {
  await page.goto('/');
  const question = page.getByTestId('question-input');
  await page.getByTestId('preset-describe').click();
  await expect(question).toHaveValue('What is happening in this video? Describe it.');
  await expect(question).toBeFocused();
  await page.getByTestId('preset-count').focus();
  await page.keyboard.press('Enter');
  await expect(question).toHaveValue(/^How many/);
});
