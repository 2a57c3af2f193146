/**
 * The built app under its Content-Security-Policy (scripts/csp.ts, a meta tag in index.html): the
 * policy is there, the app loads its demo model and answers with no violation reported, and an
 * inline script added to the page does not run.
 */
import { expect, test } from '@playwright/test';
import { CSP } from '../scripts/csp';

test('the built app runs under its CSP: no violation, inline script blocked', async ({ page }) => {
  test.setTimeout(300_000);
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as { __cspViolations?: string[] }).__cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (e) =>
      seen.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
    );
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const meta = page.locator('meta[http-equiv="Content-Security-Policy"]');
  await expect(meta).toHaveAttribute('content', CSP);
  expect(CSP).not.toMatch(/unsafe-eval|unsafe-inline/);

  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 200_000 });
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('max-tokens-input').fill('3');
  await page.getByTestId('question-input').fill('What is in the video?');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  expect(await page.evaluate(() => (window as { __cspViolations?: string[] }).__cspViolations)).toEqual([]);
  expect(errors).toEqual([]);

  // The policy is live: an inline script is refused (and reported).
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.body.append(s);
  });
  await expect
    .poll(() => page.evaluate(() => (window as { __cspViolations?: string[] }).__cspViolations?.length))
    .toBe(1);
  expect(await page.evaluate(() => (window as { __inlineRan?: boolean }).__inlineRan)).toBeUndefined();
});
