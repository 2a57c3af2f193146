/**
 * The CLIs on every bad checkpoint of src/model/testing/bad-checkpoints.ts (each written to a
 * folder): a non-zero exit, one line naming the file, tensor or key, and no stack trace. npm run
 * convert runs under Node and is tried on every case; npm run infer (the app's pipeline in headless
 * Chromium) on one case, since each run starts a browser.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BAD_CASES,
  type BadCase,
  badCheckpoint,
  EXPECTED_MESSAGE,
} from '../src/model/testing/bad-checkpoints';
import { fixtureFiles } from '../src/model/testing/goldens';

const ROOT = resolve(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

function run(
  args: string[],
  timeoutMs: number,
): Promise<{ status: number | null; stderr: string; stdout: string }> {
  return new Promise((done) => {
    const child = spawn(TSX, args, { cwd: ROOT, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => done({ status, stderr, stdout }));
  });
}

/** The lines a user sees on stderr: the message (and a hint, indented), never a stack frame. */
function expectOneClearError(stderr: string, message: RegExp, prefix: string): void {
  const lines = stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('  ') && !/^\s+\d+%/.test(l));
  expect(stderr).not.toMatch(/^\s+at .+[:(]/m);
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0].startsWith(prefix), stderr).toBe(true);
  expect(lines[0]).toMatch(message);
}

describe('CLIs on bad checkpoints', () => {
  let dir: string;
  const folder = (c: BadCase) => join(dir, `bad-${c}`);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bad-ckpt-'));
    const good = fixtureFiles('tiny-a');
    for (const c of BAD_CASES) {
      mkdirSync(folder(c));
      for (const [f, b] of badCheckpoint(good, c)) writeFileSync(join(folder(c), f), b);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('npm run convert exits 2 with one line naming the problem, and writes nothing', async () => {
    const results = new Map<BadCase, Awaited<ReturnType<typeof run>>>();
    // Two at a time: each is a Node start and a header read.
    for (let i = 0; i < BAD_CASES.length; i += 2)
      await Promise.all(
        BAD_CASES.slice(i, i + 2).map(async (c) =>
          results.set(c, await run(['scripts/convert.ts', folder(c), join(dir, `out-${c}`)], 120_000)),
        ),
      );
    for (const c of BAD_CASES) {
      const r = results.get(c)!;
      expect(r.status, `${c}: ${r.stderr}`).toBe(2); // convert's exit code for bad input
      expectOneClearError(r.stderr, EXPECTED_MESSAGE[c], 'convert: ');
      expect(existsSync(join(dir, `out-${c}`)), c).toBe(false);
    }
  }, 300_000);

  it('npm run infer exits 1 with the message naming the folder and the key, and no stack trace', async () => {
    const c: BadCase = 'config-no-text';
    const r = await run(['scripts/infer.ts', '--model', folder(c), '--question', 'hi'], 300_000);
    expect(r.status, r.stderr).toBe(1);
    expectOneClearError(r.stderr, EXPECTED_MESSAGE[c], `infer: model-invalid: ${folder(c)}/`);
    expect(r.stderr).toMatch(/config\.json key text_config/);
  }, 320_000);
});
