/**
 * The fine-tune view in the built app (headless Chromium, software WebGPU), kept tiny: an untrained
 * model of the demo's toy architecture (scripts/rl/demo-model.ts, served by page.route), two
 * moving-squares clips made in the page (WebCodecs H.264) plus one held out, GRPO with G = 2 and
 * 8-token completions. It trains, the charts get points, pause / resume, a reload mid-run resumes from
 * the checkpoint in OPFS, the adapter is saved, downloaded as PEFT files and imported back, and the
 * ask flow answers with it. Screenshots of the view before, during and after training.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { demoFiles } from '../scripts/rl/demo-model';
import { serveFiles } from './serve-files';

const MODEL_PATH = '/e2e-models/shapes/';
const SHOTS = 'artifacts/screenshots';

async function loadShapes(page: Page): Promise<void> {
  const panel = page.getByTestId('model-panel');
  // The shipped default loads first; then the served toy model replaces it.
  await expect(panel).toHaveAttribute('data-state', 'ready', { timeout: 150_000 });
  await page.getByTestId('model-url-input').fill(new URL(MODEL_PATH, page.url()).href);
  await page.getByTestId('model-url-load').click();
  await expect(page.getByTestId('model-name')).toHaveText('shapes', { timeout: 120_000 });
}

async function setSetting(page: Page, key: string, value: number): Promise<void> {
  await page.getByTestId(`ft-set-${key}`).fill(String(value));
}

test('fine-tune: generate, train, pause / resume, reload and resume, save, export / import, ask with the adapter', async ({
  page,
}) => {
  test.setTimeout(600_000);
  mkdirSync(SHOTS, { recursive: true });
  const t0 = Date.now();
  const mark = (what: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const modelFiles = demoFiles(new Map(), 128);
  await serveFiles(page, MODEL_PATH, modelFiles);
  const dir = mkdtempSync(join(tmpdir(), 'ft-e2e-'));
  const downloads: string[] = [];
  page.on('download', async (d) => {
    const p = join(dir, d.suggestedFilename());
    await d.saveAs(p);
    downloads.push(p);
  });
  await page.goto('/');
  await loadShapes(page);

  mark('model loaded');
  // The view is reachable from the header by keyboard.
  await page.getByTestId('nav-finetune').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('finetune-panel')).toBeVisible();
  await expect(page.getByTestId('nav-finetune')).toHaveAttribute('aria-current', 'page');

  await page.getByTestId('ft-gen-count').fill('2');
  await page.getByTestId('ft-gen-heldout').fill('1');
  await page.getByTestId('ft-generate').click();
  const count = page.getByTestId('ft-dataset-count');
  await expect(count).toHaveAttribute('data-train', '2', { timeout: 60_000 });
  await expect(count).toHaveAttribute('data-heldout', '1');

  mark('clips generated');
  await setSetting(page, 'steps', 4);
  await setSetting(page, 'num_generations', 2);
  await setSetting(page, 'max_completion_length', 8);
  await setSetting(page, 'learning_rate', 0.01);
  await setSetting(page, 'frames', 4);
  await setSetting(page, 'eval_every', 2);
  await page.getByTestId('ft-set-scale_rewards').selectOption('batch'); // TRL's option, passed to the trainer
  await expect(page.getByTestId('ft-set-scale_rewards')).toHaveValue('batch');
  await expect(page.getByTestId('ft-estimate')).toContainText('a step', { timeout: 60_000 });
  await page.screenshot({ path: `${SHOTS}/finetune-before.png`, fullPage: true });

  // Train; pause after the first step, then resume.
  const run = page.getByTestId('ft-run');
  await page.getByTestId('ft-start').click();
  await expect(page.getByTestId('ft-chart-loss')).toHaveAttribute('data-points', '1', { timeout: 180_000 });
  mark('first step');
  await page.getByTestId('ft-pause').click();
  await expect(run).toHaveAttribute('data-state', 'paused', { timeout: 120_000 });
  await expect(page.getByTestId('ft-completions')).toContainText('reward');
  const pausedAt = Number(await run.getAttribute('data-step'));
  expect(pausedAt).toBeGreaterThanOrEqual(1);
  // Paused: the ask flow is free again (no note).
  mark('paused');
  await page.getByTestId('ft-resume').click();
  await expect(run).toHaveAttribute('data-step', String(pausedAt + 1), { timeout: 180_000 });
  await expect(page.getByTestId('ft-chart-reward')).toHaveAttribute('data-points', String(pausedAt + 1));
  // The held-out clip was evaluated with the base before step 1 (and with the adapter after step 2).
  await expect(page.getByTestId('ft-chart-heldout')).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/finetune-during.png`, fullPage: true });

  mark('resumed and stepped');
  // Reload mid-run: the checkpoint in OPFS is offered and the run continues from it to the end.
  await page.reload();
  await loadShapes(page);
  const offer = page.getByTestId('ft-resume-offer');
  await expect(offer).toContainText(/saved in this browser at step \d of 4/, { timeout: 60_000 });
  const savedStep = Number(/at step (\d)/.exec((await offer.textContent()) ?? '')![1]);
  expect(savedStep).toBeGreaterThanOrEqual(pausedAt + 1);
  mark('reloaded');
  await page.getByTestId('ft-resume-saved').click();
  await expect(page.getByTestId('ft-resumed-from')).toContainText(`step ${savedStep}`);
  await expect(run).toHaveAttribute('data-state', 'done', { timeout: 300_000 });
  await expect(run).toHaveAttribute('data-step', '4');
  // The charts hold every step, the ones before the reload included.
  await expect(page.getByTestId('ft-chart-loss')).toHaveAttribute('data-points', '4');
  await expect(page.getByTestId('ft-eval-adapter-answer')).not.toHaveText('—');
  // Held-out evaluations at steps 0, 2 and 4, the ones before the reload restored from the checkpoint.
  await expect(page.getByTestId('ft-chart-heldout')).toHaveAttribute('data-points', '3');

  mark('run done');
  // Before / after on the held-out clip.
  await page.getByTestId('ft-eval-before').click();
  await expect(page.getByTestId('ft-eval-base-answer')).toHaveCount(1, { timeout: 120_000 });
  await page.getByTestId('ft-eval-after').click();
  await expect(page.getByTestId('ft-eval-adapter-answer')).not.toHaveText('—', { timeout: 120_000 });

  mark('evaluated');
  // The dataset as a zip of its JSONL and clips.
  await page.getByTestId('ft-export').click();
  await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(1);
  // Save, download as PEFT files, import them back.
  await page.getByTestId('ft-adapter-name').fill('squares e2e');
  await page.getByTestId('ft-adapter-save').click();
  await expect(page.getByTestId('ft-adapter')).toHaveCount(1);
  await page.getByTestId('ft-adapter-download').click();
  await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(3);
  expect(downloads.map((p) => p.split('/').pop()).sort()).toEqual([
    'adapter_config.json',
    'adapter_model.safetensors',
    'dataset.zip',
  ]);
  const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  expect(config.peft_type).toBe('LORA');
  // The downloaded files in the CLI: npm run eval --adapter gives the page's answer on the held-out clip.
  const data = join(dir, 'data');
  mkdirSync(join(data, 'model'), { recursive: true });
  for (const [p, bytes] of Object.entries(unzipSync(readFileSync(join(dir, 'dataset.zip')))))
    writeFileSync(join(data, p), bytes);
  for (const [name, bytes] of modelFiles) writeFileSync(join(data, 'model', name), bytes);
  const cli = spawnSync(
    'npx',
    [
      'tsx',
      'scripts/eval.ts',
      '--model',
      join(data, 'model'),
      '--data',
      join(data, 'dataset.jsonl'),
      '--out',
      join(data, 'out.jsonl'),
      '--frames',
      '4',
      '--max-new-tokens',
      '8',
      '--adapter',
      dir,
    ],
    { encoding: 'utf8', timeout: 180_000 },
  );
  expect(cli.status, cli.stderr).toBe(0);
  const cell = page.getByTestId('ft-eval-adapter-answer');
  const heldOutId = await cell.getAttribute('data-problem-id');
  const line = readFileSync(join(data, 'out.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((r) => String(r.problem_id) === heldOutId);
  expect(line).toBeTruthy();
  expect(line.completion).toBe(((await cell.getAttribute('data-completion')) ?? '').trim());
  mark(`CLI eval --adapter: ${JSON.stringify(line.completion)}`);
  await page.getByTestId('ft-adapter-name').fill('reimported');
  await page.getByTestId('ft-adapter-import').setInputFiles(downloads);
  await expect(page.getByTestId('ft-adapter')).toHaveCount(2);
  await page.screenshot({ path: `${SHOTS}/finetune-after.png`, fullPage: true });

  mark('adapters');
  // Ask with base + the adapter.
  await page.getByTestId('nav-ask').click();
  await page.getByTestId('ask-adapter').selectOption({ label: 'base + squares e2e' });
  await expect(page.getByTestId('ask-adapter')).toBeEnabled();
  await page.getByTestId('sampling-settings').evaluate((d) => {
    (d as HTMLDetailsElement).open = true;
  });
  await page.getByTestId('max-tokens-input').fill('6');
  await page.getByTestId('question-input').fill('Which way does the red square move?');
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('ask-status')).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
  mark('asked');
  expect(errors).toEqual([]);
});
