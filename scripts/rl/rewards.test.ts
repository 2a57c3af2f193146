/** rl:rewards: the command run as users run it (tsx), on good lines and on bad ones. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scoreLines } from './rewards';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'rewards-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (lines: string[]) => {
  const file = join(dir, `in-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, lines.join('\n'));
  const r = spawnSync(join(ROOT, 'node_modules/.bin/tsx'), ['scripts/rl/rewards.ts', file], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { ...r, file };
};

const think = 'x'.repeat(120);
const good = [
  { completion: `<think>${think}</think><answer>B</answer>`, solution: '<answer>B</answer>', problem_id: 1 },
  { completion: `  <think>${think}</think>\n<answer>C</answer>\n`, solution: '<answer>B</answer>' },
  { completion: 'B. the right one', solution: '<answer>B</answer>' },
  { completion: 'no idea', solution: '<answer>B</answer>' },
].map((o) => JSON.stringify(o));

describe('rl:rewards', () => {
  it('prints accuracy, format and total, one line per input in order', () => {
    const { status, stdout, stderr } = run([...good.slice(0, 2), '', ...good.slice(2), '']);
    expect(status).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { accuracy: 1, format: 0.55, total: 1.55 },
      { accuracy: 0, format: 0.55, total: -0.55 },
      { accuracy: 1, format: 0, total: 1 },
      { accuracy: 0, format: 0, total: -2 },
    ]);
    expect(stderr).toMatch(/^4 completions: accuracy 0\.500, format 0\.275, total 0\.000 \(means\)/);
  });

  it('names the bad lines, writes nothing and exits 1 without a stack trace', () => {
    const { status, stdout, stderr, file } = run([
      good[0],
      '{"completion": "x"}',
      'nope',
      '{"completion": 1, "solution": ""}',
    ]);
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(`${file}:2: missing "solution"`);
    expect(stderr).toContain(`${file}:3: not valid JSON`);
    expect(stderr).toContain(`${file}:4: "completion" is not a string`);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('checks every line before scoring (in-process)', () => {
    expect(scoreLines('[]\n', 'f')).toEqual({ errors: ['f:1: not a JSON object'] });
    expect(scoreLines('', 'f')).toEqual({ rewards: [] });
  });
});
