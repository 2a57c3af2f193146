/**
 * The shipped demo model (public/models/tiny-r1-shapes, trained on moving squares) in the built app,
 * with nothing reachable beyond the app's own origin: it loads by itself, says what it is, and
 * answers a sample clip's question with a think section, then an answer naming one of the options.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

interface Sample {
  file: string;
  question: string;
  answer: string;
}
const SAMPLES: Sample[] = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'public', 'samples', 'index.json'), 'utf8'),
).samples;

test('the demo model answers a sample clip offline: <think>, then <answer> with an option letter', async ({
  page,
  context,
  baseURL,
}) => {
  const origin = new URL(baseURL ?? '').origin;
  const foreign: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    foreign.push(url);
    return route.abort('internetdisconnected');
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto('/');
  await expect(page.getByTestId('model-panel')).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  await expect(page.getByTestId('model-name')).toHaveText('tiny-r1-shapes');
  await expect(page.getByTestId('demo-model-note')).toContainText(
    /M-parameter TinyLLaVA-Video trained in this project on moving squares/,
  );

  const sample = SAMPLES[0];
  const [question, optionsText] = sample.question.split(/\nOptions:\n/);
  await page.getByTestId(`sample-${sample.file.replace(/\.\w+$/, '')}`).click();
  await expect(page.getByTestId('video-panel')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(page.getByTestId('question-input')).toHaveValue(question);
  await expect(page.getByTestId('options-input')).toHaveValue(optionsText);

  // Greedy, and room for the ~35-token think and the answer (the model ends it by itself).
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('temperature-input').fill('0');
  await page.getByTestId('max-tokens-input').fill('96');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
  await expect(page.getByTestId('stats-line')).toHaveAttribute('data-stopped-by', 'eos');
  await expect(page.getByTestId('ask-video')).toHaveAttribute('data-has-video', 'true');

  const raw = (await page.getByTestId('raw-output').textContent()) ?? '';
  const m = /^\s*<think>([\s\S]+?)<\/think>\s*<answer>\s*([A-D])\b[\s\S]*?<\/answer>\s*$/.exec(raw);
  expect(m, raw).not.toBeNull();
  const [, think, letter] = m!;
  // The UI's parts show what streamed: the think in the thinking panel, the letter as the chosen option.
  await expect(page.getByTestId('thinking-text')).toHaveText(think.trim());
  await expect(page.getByTestId('answer-panel')).toHaveAttribute('data-option', letter);
  await expect(page.getByTestId('answer-option')).toHaveText(`Option ${letter}`);
  await expect(page.locator('[data-testid="option-item"][data-selected="true"]')).toHaveAttribute(
    'data-letter',
    letter,
  );
  // The shipped model answers every sample clip right (npm run eval on public/samples: 4 of 4).
  expect(letter).toBe(sample.answer);

  expect(foreign).toEqual([]);
  expect(errors).toEqual([]);
});
