/**
 * Model output is rendered as text, never as HTML or markdown: an adversarial stream (a <script>, an
 * <img onerror>, an <iframe>, HTML links and markdown links, in the thinking and in the answer, with
 * tags cut across tokens) goes through the page's answer view (src/ui/testing/stream-answer.tsx:
 * the real parser, reducer, store and component). Nothing runs, no element is created from it,
 * no dialog opens, the page stays where it is, and the raw text reads back exactly.
 */
import { expect, test } from '@playwright/test';

const PAYLOAD =
  '<think>First <script>window.__pwned = "script"; alert(1)</script> then ' +
  '<img src=x onerror="window.__pwned = \'img\'"> and <a href="javascript:window.__pwned=\'a\'">here</a>, ' +
  "see [the docs](javascript:window.__pwned='md') and ![x](https://evil.example/x.png) **bold** " +
  '<style>body{display:none}</style></think>\n' +
  '<answer><b>B</b> <iframe src="javascript:window.__pwned=\'iframe\'"></iframe> [B](https://evil.example/)</answer>';

/** Token-sized pieces, 1 to 4 characters, so tags arrive split. */
function tokens(s: string): string[] {
  const out: string[] = [];
  for (let i = 0, k = 0; i < s.length; k++) {
    const n = 1 + (k % 4);
    out.push(s.slice(i, i + n));
    i += n;
  }
  return out;
}

test('an adversarial token stream renders as plain text in the answer view', async ({ page }) => {
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const requests: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('evil.example')) requests.push(r.url());
  });
  // A blank page on the dev server's origin, with the React plugin's preamble (as Vite's index.html has).
  await page.route('**/__render_blank', (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><html><head><script type="module">
        import RefreshRuntime from '/@react-refresh';
        RefreshRuntime.injectIntoGlobalHook(window);
        window.$RefreshReg$ = () => {};
        window.$RefreshSig$ = () => (type) => type;
        window.__vite_plugin_react_preamble_installed__ = true;
      </script></head><body></body></html>`,
    }),
  );
  await page.goto('/__render_blank');
  await page.waitForFunction(
    () =>
      (window as { __vite_plugin_react_preamble_installed__?: boolean })
        .__vite_plugin_react_preamble_installed__ === true,
  );
  const url = page.url();
  await page.evaluate(
    async ([chunks, options]) => {
      const m: typeof import('../src/ui/testing/stream-answer') = await import(
        '/src/ui/testing/stream-answer.tsx' as string
      );
      await m.streamIntoAnswerView(chunks, options);
    },
    [tokens(PAYLOAD), ['a dog', 'a cat']] as [string[], string[]],
  );

  const view = page.getByTestId('answer-view');
  await expect(view).toBeVisible();
  // Exactly the text the model wrote, character for character.
  expect(await page.getByTestId('raw-output').textContent()).toBe(PAYLOAD);
  await expect(page.getByTestId('thinking-text')).toContainText('<script>window.__pwned = "script"');
  await expect(page.getByTestId('thinking-text')).toContainText("[the docs](javascript:window.__pwned='md')");
  await expect(page.getByTestId('answer-text')).toContainText('<b>B</b> <iframe src=');
  // No element came from the stream: none of these tags exists anywhere in the view.
  const created = await view.evaluate(
    (el) => el.querySelectorAll('script, img, iframe, a, b, style, object, embed, link, form').length,
  );
  expect(created).toBe(0);
  expect(await page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined();
  expect(dialogs).toEqual([]);
  expect(requests).toEqual([]);
  expect(page.url()).toBe(url);
  await expect(page.locator('body')).toBeVisible(); // the <style> did not hide the page
});
