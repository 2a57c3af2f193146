/**
 * The model in the built app: the demo model loads by itself, a question streams tokens into the
 * thinking / answer panels and fills the stats line, Stop ends a long answer (of the random tiny-a,
 * which never ends by itself), and broken checkpoints (served by page.route as edited copies of tiny-a)
 * fail with a clear message while the demo model keeps answering.
 */
import { join } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { parseReasoning } from '../src/model/reasoning-parser';
import {
  BAD_CASES,
  badCheckpoint,
  EXPECTED_MESSAGE,
  expectedKind,
} from '../src/model/testing/bad-checkpoints';
import { fixtureFiles } from '../src/model/testing/goldens';
import { loadRandomModel } from './random-model';
import { serveFiles } from './serve-files';

/** The shipped demo model's name (its folder: public/models/tiny-r1-shapes). */
const DEMO = 'tiny-r1-shapes';

/** A small clip WebCodecs decodes in Chromium (VP9, 161×121, 30 frames). */
const CLIP = join(import.meta.dirname, '..', 'test-data', 'videos', 'androidx_bear-vp9-odd-dimensions.webm');

async function openApp(page: Page): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const panel = page.getByTestId('model-panel');
  await expect(panel).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  await expect(page.getByTestId('model-name')).toHaveText(DEMO);
  expect(errors).toEqual([]);
}

async function setMaxTokens(page: Page, n: number): Promise<void> {
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('max-tokens-input').fill(String(n));
}

/** Asks and waits for the end; returns the raw output text. */
async function askAndWait(page: Page, question: string, options = ''): Promise<string> {
  await page.getByTestId('question-input').fill(question);
  if (options) await page.getByTestId('options-input').fill(options);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  return (await page.getByTestId('raw-output').textContent()) ?? '';
}

test.describe('model', () => {
  test('the demo model answers about a dropped clip: tokens stream, panels follow the parser, stats fill', async ({
    page,
  }) => {
    await openApp(page);
    await expect(page.getByTestId('ask-video')).toHaveAttribute('data-has-video', 'false');
    await page.getByTestId('video-file').setInputFiles(CLIP);
    await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', {
      timeout: 120_000,
    });
    await expect(page.getByTestId('ask-video')).toHaveAttribute('data-has-video', 'true');
    await expect(page.getByTestId('ask-video')).toContainText(
      'androidx_bear-vp9-odd-dimensions.webm (16 frames)',
    );
    // The model was loaded first: the clip's frames went through the vision tower as they decoded.
    await expect(page.getByTestId('video-vision')).toHaveAttribute('data-state', 'done', {
      timeout: 120_000,
    });
    await expect(page.getByTestId('video-vision')).toHaveText('vision ready (16 frames)');
    await expect(page.getByTestId('model-params')).toContainText(/\d/);
    await expect(page.getByTestId('model-gpu-bytes')).toContainText(/iB/);
    await setMaxTokens(page, 40);

    await page.getByTestId('question-input').fill('Which way does the disc move?');
    await page.getByTestId('options-input').fill('A. left\nB. right\nC. up\nD. down');
    // Record (state, tokens) at every token count change, to see tokens arrive while running.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __seen: string[] }).__seen = seen;
      new MutationObserver(() => {
        const raw = document.querySelector('[data-testid="raw-output"]');
        const st = document.querySelector('[data-testid="ask-status"]');
        if (raw) seen.push(`${st?.getAttribute('data-state')}:${raw.getAttribute('data-tokens')}`);
      }).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ['data-tokens'],
      });
    });
    // Enter submits (keyboard path).
    await page.getByTestId('question-input').press('Enter');
    const status = page.getByTestId('ask-status');
    const raw = page.getByTestId('raw-output');
    await expect(status).toHaveAttribute('data-state', 'done', { timeout: 150_000 });

    const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
    expect(seen.filter((x) => /^running:[1-9]/.test(x)).length, seen.join(' ')).toBeGreaterThan(1);
    const text = (await raw.textContent()) ?? '';
    const tokens = Number(await raw.getAttribute('data-tokens'));
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThanOrEqual(40);
    // The demo model knows only moving squares: whatever it wrote, the panels show what the parser reads.
    const done = parseReasoning(text, { options: ['left', 'right', 'up', 'down'] });
    await expect(page.getByTestId('thinking-text')).toHaveText(done.thinkText || '—');
    const answer = done.answerText || done.answer;
    if (answer) await expect(page.getByTestId('answer-text')).toHaveText(answer);
    await expect(page.getByTestId('answer-panel')).toHaveAttribute('data-option', done.option ?? '');
    await expect(page.getByTestId('option-item')).toHaveCount(4);
    await expect(page.locator('[data-testid="option-item"][data-selected="true"]')).toHaveCount(
      done.option ? 1 : 0,
    );
    await expect(page.getByTestId('thinking-count')).toHaveAttribute('data-count', /\d+/);

    const stats = page.getByTestId('stats-line');
    await expect(stats).toBeVisible();
    await expect(page.getByTestId('stat-ttft')).toContainText(/TTFT \d/);
    await expect(page.getByTestId('stat-tps')).toContainText(/tok\/s/);
    await expect(page.getByTestId('stat-prefill')).toContainText(/prefill \d/);
    await expect(page.getByTestId('stat-decode')).toContainText(/decode \d/);
    // The clip's frames went through every stage.
    await expect(page.getByTestId('stat-video')).toContainText(/video decode \d/);
    // Preprocess and vision ran ahead: the question only waited for what was left of them.
    await expect(page.getByTestId('stat-vision-wait')).toContainText(/waited for vision \d.*ran ahead: \d/);
    await expect(page.getByTestId('stat-connector')).toContainText(/connector \d/);
    await expect(page.getByTestId('stat-tokens')).toContainText(/\(\d+ in prompt\)/);
    await expect(page.getByTestId('text-only-note')).toHaveCount(0);
    await page.screenshot({ path: 'artifacts/app-model.png', fullPage: true });

    // A second question on the same clip reuses its visual tokens.
    await setMaxTokens(page, 2);
    await askAndWait(page, 'And then?');
    await expect(page.getByTestId('stat-cached')).toBeVisible();
  });

  test('Stop ends a long answer mid-stream', async ({ page }) => {
    await openApp(page);
    await loadRandomModel(page);
    await setMaxTokens(page, 2000);
    await page.getByTestId('question-input').fill('Describe everything.');
    await page.getByTestId('ask-button').click();
    const raw = page.getByTestId('raw-output');
    await expect
      .poll(async () => Number(await raw.getAttribute('data-tokens')), { timeout: 120_000 })
      .toBeGreaterThan(2);
    // No video in this page: the question is answered from the text alone, and says so.
    await expect(page.getByTestId('text-only-note')).toBeVisible();
    await page.getByTestId('stop-button').click();
    await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'stopped', {
      timeout: 60_000,
    });
    await expect(page.getByTestId('stats-line')).toHaveAttribute('data-stopped-by', 'cancel');
    expect(Number(await raw.getAttribute('data-tokens'))).toBeLessThan(2000);
    await expect(page.getByTestId('stop-button')).toHaveCount(0);
    // And the next question runs normally.
    await setMaxTokens(page, 3);
    const first = await askAndWait(page, 'Again?');

    // Copy puts the output on the clipboard; Regenerate asks the same question with the next seed.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.getByTestId('copy-answer').click();
    await expect(page.getByTestId('copy-answer')).toHaveText('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(first);
    const seed = Number(await page.getByTestId('seed-input').inputValue());
    await page.getByTestId('regenerate').click();
    await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
    await expect(page.getByTestId('seed-input')).toHaveValue(String(seed + 1));
    await expect(page.getByTestId('question-input')).toHaveValue('Again?');
  });

  test('the demo model says what it is; a hub repo id loads from the hub endpoint set in the page', async ({
    page,
  }) => {
    // A stand-in hub at the app's origin: /hub/{repo}/resolve/{revision}/{file}.
    await serveFiles(page, '/hub/someone/tiny-model/resolve/v1/', fixtureFiles('tiny-b'));
    await openApp(page);
    const note = page.getByTestId('demo-model-note');
    await expect(note).toContainText(
      /\d M-parameter TinyLLaVA-Video trained in this project on moving squares/,
    );
    await expect(page.getByTestId('load-real-model')).toContainText('Zhang199/TinyLLaVA-Video-R1 (7.6 GB)');
    await page.getByTestId('model-panel').screenshot({ path: 'artifacts/model-panel-demo.png' });

    await page.getByTestId('model-url-input').fill('not a model name?');
    await page.getByTestId('hub-endpoint-input').evaluate((i) => {
      (i.closest('details') as HTMLDetailsElement).open = true;
    });
    await page.getByTestId('hub-endpoint-input').fill('ftp://nowhere');
    await page.getByTestId('model-url-load').click();
    await expect(page.getByTestId('model-spec-error')).toContainText('not an http(s) URL');
    await expect(page.getByTestId('model-name')).toHaveText(DEMO);

    const origin = new URL(page.url()).origin;
    await page.getByTestId('hub-endpoint-input').fill(`${origin}/hub`);
    await page.getByTestId('model-url-input').fill('someone/tiny-model@v1');
    await page.getByTestId('model-url-load').click();
    await expect(page.getByTestId('model-name')).toHaveText('someone/tiny-model@v1', { timeout: 120_000 });
    await expect(page.getByTestId('model-source')).toContainText('someone/tiny-model');
    await expect(note).toBeHidden();
    await setMaxTokens(page, 3);
    await askAndWait(page, 'Loaded from the hub?');
  });

  test('answers are kept per video across reloads, and cleared on request', async ({ page }) => {
    await openApp(page);
    await setMaxTokens(page, 2);
    await askAndWait(page, 'Remember this question?');
    const entries = page.getByTestId('history-entry');
    await expect(entries).toHaveCount(1);
    await expect(entries.first()).toContainText('Remember this question?');
    await page.reload();
    await openApp(page);
    await expect(page.getByTestId('history-entry')).toHaveCount(1);
    await page.getByTestId('ask-panel').screenshot({ path: 'artifacts/ask-history.png' });
    await page.getByTestId('history-clear').click();
    await expect(page.getByTestId('history')).toHaveCount(0);
  });

  test('a picked folder replaces the model', async ({ page }) => {
    await openApp(page);
    await page
      .getByTestId('model-folder-input')
      .setInputFiles(join(import.meta.dirname, '..', 'public', 'models', 'tiny-b'));
    await expect(page.getByTestId('model-name')).toHaveText('tiny-b', { timeout: 120_000 });
    await expect(page.getByTestId('model-source')).toContainText('picked folder tiny-b');
    await expect(page.getByTestId('model-vision')).toContainText('112 px');
    await setMaxTokens(page, 3);
    await askAndWait(page, 'Which model answers?');
  });

  test('broken checkpoints (edited copies of tiny-a) fail clearly and the demo model keeps answering', async ({
    page,
  }) => {
    test.setTimeout(600_000);
    const good = fixtureFiles('tiny-a');
    for (const bad of BAD_CASES) await serveFiles(page, `/models/bad-${bad}/`, badCheckpoint(good, bad));
    await openApp(page);
    await setMaxTokens(page, 3);
    for (const bad of BAD_CASES) {
      await test.step(bad, async () => {
        await page.getByTestId('model-url-input').fill(`/models/bad-${bad}/`);
        await page.getByTestId('model-url-load').click();
        const error = page.getByTestId('model-error');
        await expect(error).toBeVisible({ timeout: 60_000 });
        await expect(error).toHaveAttribute('data-kind', expectedKind(bad));
        await expect(page.getByTestId('model-error-message')).toHaveText(EXPECTED_MESSAGE[bad]);
        await expect(page.getByTestId('model-error-kept')).toContainText(`${DEMO} is still loaded`);
        await expect(page.getByTestId('model-name')).toHaveText(DEMO);
        await askAndWait(page, `Still there after ${bad}?`);
      });
    }

    await test.step('a folder without a checkpoint', async () => {
      await page.getByTestId('model-url-input').fill('/models/does-not-exist/');
      await page.getByTestId('model-url-load').click();
      await expect(page.getByTestId('model-error')).toHaveAttribute('data-kind', 'model-not-found', {
        timeout: 60_000,
      });
      await expect(page.getByTestId('model-error-message')).toHaveText(
        /no config\.json in .*\/models\/does-not-exist\//,
      );
      await expect(page.getByTestId('model-name')).toHaveText(DEMO);
    });
  });
});
