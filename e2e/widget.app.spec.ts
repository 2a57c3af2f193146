/**
 * The widget on a page of another origin (examples/host.html on 127.0.0.1:4181; the app on :4173):
 * the <video-reasoner> element and the iframe mode load the demo model from the app, answer about a
 * clip the host serves, and keep their styles to themselves; the iframe obeys its host only.
 */
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { serveStatic } from '../scripts/browser/static-server';

const HOST_PORT = 4181;
const INTRUDER_PORT = 4182;
const HOST = `http://127.0.0.1:${HOST_PORT}`;
let servers: Server[] = [];

test.beforeAll(async () => {
  const mounts = { '/samples/': resolve('public/samples'), '/': resolve('examples') };
  servers = [await serveStatic(HOST_PORT, mounts), await serveStatic(INTRUDER_PORT, { '/': resolve('e2e') })];
});
test.afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

interface HostEvent {
  from: 'element' | 'frame';
  type: string;
  detail: Record<string, unknown>;
}
const events = (page: Page) =>
  page.evaluate(() => (window as unknown as { hostEvents: HostEvent[] }).hostEvents);
const ofType = async (page: Page, from: string, type: string) =>
  (await events(page)).filter((e) => e.from === from && e.type === type);

async function openHost(page: Page, baseURL: string | undefined) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${HOST}/host.html?app=${encodeURIComponent(baseURL ?? '')}`);
  await expect.poll(() => page.evaluate(() => 'hostEvents' in window)).toBe(true);
  return errors;
}

test('the element answers on another origin: ready, token and answer events', async ({ page, baseURL }) => {
  const errors = await openHost(page, baseURL);
  await expect
    .poll(async () => (await ofType(page, 'element', 'ready')).length, { timeout: 120_000 })
    .toBe(1);
  expect(await ofType(page, 'element', 'error')).toEqual([]);
  const stages = new Set((await ofType(page, 'element', 'progress')).map((e) => e.detail.stage));
  expect([...stages]).toEqual(expect.arrayContaining(['gpu', 'model']));

  await page.locator('#ask-widget').click();
  await expect
    .poll(async () => (await ofType(page, 'element', 'answer')).length, { timeout: 120_000 })
    .toBe(1);
  const tokens = await ofType(page, 'element', 'token');
  expect(tokens.length).toBeGreaterThan(0);
  for (const t of tokens) expect(['think', 'answer']).toContain(t.detail.section);
  const [answer] = await ofType(page, 'element', 'answer');
  const stats = answer.detail.stats as { newTokens: number; visualTokens: number };
  expect(stats.newTokens).toBeGreaterThan(0);
  expect(stats.newTokens).toBeLessThanOrEqual(8); // max-new-tokens="8"
  expect(stats.visualTokens).toBeGreaterThan(0); // the host's clip was decoded and seen
  // What streamed before the answer event is what the answer says, section by section.
  const text = (section: string) =>
    tokens
      .filter((t) => t.detail.section === section)
      .map((t) => t.detail.text)
      .join('');
  expect(text('think')).toBe(answer.detail.think);
  if (text('answer')) expect(text('answer')).toBe(answer.detail.answer);
  expect(await ofType(page, 'element', 'error')).toEqual([]);
  expect(errors).toEqual([]);
});

test('a model that cannot load is an error event with what to do next', async ({ page, baseURL }) => {
  await openHost(page, baseURL);
  await expect
    .poll(async () => (await ofType(page, 'element', 'ready')).length, { timeout: 120_000 })
    .toBe(1);
  // Another checkpoint by URL (resolved against the host page): there is none there.
  await page.locator('#widget').evaluate((el) => el.setAttribute('model', 'no-such-model/'));
  await expect.poll(async () => (await ofType(page, 'element', 'error')).length, { timeout: 60_000 }).toBe(1);
  const [error] = await ofType(page, 'element', 'error');
  expect(error.detail.kind).toMatch(/\w/);
  expect(error.detail.message).toContain(`${HOST}/no-such-model/`);
  expect(typeof error.detail.hint).toBe('string');
  const status = page.locator('#widget [part="status"]');
  await expect(status).toContainText(error.detail.message as string);
  await expect(status).toHaveClass(/error/);
  await page.locator('#widget').screenshot({ path: 'artifacts/screenshots/widget-error.png' });
  // The demo model stays loaded: the widget still answers.
  await page.locator('#ask-widget').click();
  await expect
    .poll(async () => (await ofType(page, 'element', 'answer')).length, { timeout: 120_000 })
    .toBe(1);
  expect(await ofType(page, 'element', 'error')).toHaveLength(1);
});

test('a Blob on the video property, ask(question) and stop()', async ({ page, baseURL }) => {
  await openHost(page, baseURL);
  await expect
    .poll(async () => (await ofType(page, 'element', 'ready')).length, { timeout: 120_000 })
    .toBe(1);
  const widget = page.locator('#widget');
  await widget.evaluate(async (el) => {
    const blob = await (await fetch('samples/green-up.mp4')).blob();
    (el as HTMLElement & { video: Blob | null }).video = blob;
  });
  await expect(widget.locator('[part="status"]')).toContainText('Video loaded', { timeout: 60_000 });
  const q = 'Which way does the green square move?\nOptions:\nA. left\nB. right\nC. up\nD. down';
  const detail = await widget.evaluate(
    (el, question) =>
      (el as HTMLElement & { ask(q: string): Promise<{ stats: { visualTokens: number } } | null> }).ask(
        question,
      ),
    q,
  );
  expect(detail?.stats.visualTokens).toBeGreaterThan(0);
  await expect(widget.locator('[part="question"]')).toHaveValue('Which way does the green square move?');
  await expect(widget.locator('[part="options"] li')).toHaveText(['left', 'right', 'up', 'down']);

  // A long answer, stopped after its first token: it ends early, as 'cancel'.
  await widget.evaluate((el) => {
    el.setAttribute('max-new-tokens', '2000');
    el.addEventListener('token', () => (el as HTMLElement & { stop(): Promise<void> }).stop(), {
      once: true,
    });
    void (el as HTMLElement & { ask(): Promise<unknown> }).ask();
  });
  await expect
    .poll(async () => (await ofType(page, 'element', 'answer')).length, { timeout: 120_000 })
    .toBe(2);
  const stats = (await ofType(page, 'element', 'answer'))[1].detail.stats as {
    stoppedBy: string;
    newTokens: number;
  };
  expect(stats.stoppedBy).toBe('cancel');
  expect(stats.newTokens).toBeLessThan(2000);
  await expect(widget.locator('[part="status"]')).toContainText('Stopped');
});

test("styles don't leak either way; parts and custom properties restyle", async ({ page, baseURL }) => {
  await openHost(page, baseURL);
  const widget = page.locator('#widget');
  const ask = widget.locator('[part="ask-button"]');
  await expect(ask).toBeVisible();
  const style = (loc: ReturnType<Page['locator']>, props: string[]) =>
    loc.evaluate((el, ps) => {
      const cs = getComputedStyle(el);
      return Object.fromEntries(ps.map((p) => [p, cs.getPropertyValue(p)]));
    }, props);
  const props = ['background-color', 'color', 'font-family', 'border-top-style'];
  const hostButton = await style(page.locator('#ask-widget'), props);
  const inner = await style(ask, props);
  // The host's loud button (red, yellow text, monospace, dashed) stays outside.
  expect(hostButton['background-color']).toBe('rgb(220, 38, 38)');
  expect(inner['background-color']).not.toBe(hostButton['background-color']);
  expect(inner.color).not.toBe(hostButton.color);
  expect(inner['font-family']).not.toContain('Courier');
  expect(inner['border-top-style']).toBe('solid');
  // Inherited host text styles stop at the host element (all: initial).
  const status = await style(widget.locator('[part="status"]'), ['color', 'font-family']);
  expect(status.color).not.toBe('rgb(0, 128, 0)');
  expect(status['font-family']).not.toContain('Georgia');
  // The host's custom property and ::part() rule are the ways in.
  expect(inner['background-color']).toBe('rgb(15, 118, 110)'); // --vr-accent: #0f766e
  expect(await style(widget.locator('[part="footer"]'), ['font-style'])).toEqual({ 'font-style': 'italic' });
  // The widget's styles stay inside: the host's own paragraph and button are as the host wrote them.
  expect((await style(page.locator('.host-text'), ['color'])).color).toBe('rgb(0, 128, 0)');
  expect(hostButton['border-top-style']).toBe('dashed');
  // The shadow root is open, for hosts that need to reach in.
  expect(await widget.evaluate((el) => el.shadowRoot !== null)).toBe(true);
  // Sensible in its 320×480 box: nothing spills out.
  const box = await widget.boundingBox();
  expect(box).toMatchObject({ width: 320, height: 480 });
  const overflow = await widget.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const parts = [...(el.shadowRoot?.querySelectorAll('[part]') ?? [])];
    return parts.filter((p) => {
      const q = p.getBoundingClientRect();
      return q.width > 0 && (q.left < r.left - 1 || q.right > r.right + 1 || q.bottom > r.bottom + 1);
    }).length;
  });
  expect(overflow).toBe(0);
});

test('the iframe mode answers its host and ignores other origins', async ({ page, baseURL }) => {
  await openHost(page, baseURL);
  await expect.poll(async () => (await ofType(page, 'frame', 'ready')).length, { timeout: 120_000 }).toBe(1);
  // Let the frame's video load finish before the checks.
  await expect(page.frameLocator('#frame').locator('video-reasoner [part="status"]')).toContainText(
    'Video loaded',
    { timeout: 60_000 },
  );

  // A page of a third origin, inside the host, posts a well-formed ask: the frame does nothing.
  const before = (await events(page)).length;
  await page.evaluate((src) => {
    const f = document.createElement('iframe');
    f.src = src;
    f.id = 'intruder';
    document.body.append(f);
  }, `http://127.0.0.1:${INTRUDER_PORT}/intruder.html`);
  await expect(page.frameLocator('#intruder').locator('body')).toHaveText('sent');
  // A malformed message from the right origin is ignored too.
  await page.evaluate(
    (app) =>
      (document.getElementById('frame') as HTMLIFrameElement).contentWindow?.postMessage(
        { type: 'video-reasoner:ask', question: 42 },
        app,
      ),
    new URL(baseURL ?? '').origin,
  );
  await page.waitForTimeout(3000);
  const after = (await events(page)).slice(before).filter((e) => e.from === 'frame');
  expect(after).toEqual([]);

  // The host's own ask is answered, with the events it documents.
  await page.locator('#ask-frame').click();
  await expect.poll(async () => (await ofType(page, 'frame', 'answer')).length, { timeout: 120_000 }).toBe(1);
  expect((await ofType(page, 'frame', 'token')).length).toBeGreaterThan(0);
  const [answer] = await ofType(page, 'frame', 'answer');
  expect((answer.detail.stats as { newTokens: number }).newTokens).toBeLessThanOrEqual(8);
  expect(await ofType(page, 'frame', 'error')).toEqual([]);
});
