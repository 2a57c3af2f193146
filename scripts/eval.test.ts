/**
 * npm run eval end to end, once, on two moving-squares clips with the random tiny-a fixture: the app's
 * pipeline in headless Chromium answers each item, the results file has one line per item in order
 * with the command's fields, and the summary is printed. A bad dataset line exits 2 naming the line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveFfmpeg } from './rl/encode';
import { DEFAULTS, writeSquaresDataset } from './rl/squares';

const ROOT = resolve(import.meta.dirname, '..');
const run = (args: string[]) =>
  spawnSync('npx', ['tsx', 'scripts/eval.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });

describe.skipIf(!haveFfmpeg() && !process.env.CI)('npm run eval', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eval-'));
    await writeSquaresDataset(dir, { ...DEFAULTS, n: 2, seed: 3, heldOut: 0 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers every item through the app and writes one result line each', () => {
    const out = join(dir, 'results.jsonl');
    const r = run([
      '--model',
      'public/models/tiny-a',
      '--data',
      join(dir, 'train.jsonl'),
      '--out',
      out,
      '--max-new-tokens',
      '3',
      '--frames',
      '4',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /2 items in \d+ s: accuracy \d\.\d{3} \(chance 0\.250\) · format rate \d\.\d{3}/,
    );
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.problem_id)).toEqual([0, 1]);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual([
        'problem_id',
        'completion',
        'think',
        'answer',
        'option',
        'accuracy',
        'format',
        'reward',
      ]);
      expect(l.completion.length).toBeGreaterThan(0);
      expect([0, 1]).toContain(l.accuracy);
    }
  });

  it('refuses a bad dataset line with its number, before starting a browser', () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, `${readFileSync(join(dir, 'train.jsonl'), 'utf8')}{"problem": 1}\n`);
    const r = run(['--model', 'public/models/tiny-a', '--data', bad, '--out', join(dir, 'x.jsonl')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.jsonl:3/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
