/**
 * npm run rl:train end to end on two moving-squares clips with the tiny-a fixture (GRPO, tiny
 * settings): the PEFT adapter, optimizer state, trainer state and step log land in --out, and
 * one step, then --resume for one more, gives the very bytes of two uninterrupted steps.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveFfmpeg } from './encode';
import { DEFAULTS, writeSquaresDataset } from './squares';

const ROOT = resolve(import.meta.dirname, '../..');

describe.skipIf(!haveFfmpeg() && !process.env.CI)('npm run rl:train', () => {
  let dir: string;
  const run = (args: string[]) =>
    spawnSync(
      'npx',
      [
        'tsx',
        'scripts/rl/train.ts',
        '--model',
        'public/models/tiny-a',
        '--data',
        join(dir, 'train.jsonl'),
        '--frames',
        '4',
        ...args,
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rl-train-'));
    await writeSquaresDataset(dir, { ...DEFAULTS, n: 2, seed: 5, heldOut: 0 });
    const config = {
      num_generations: 2,
      max_completion_length: 3,
      per_device_train_batch_size: 2,
      learning_rate: 1e-3,
      r: 4,
      lora_alpha: 8,
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the adapter, the checkpoint and the log; a resumed run continues bit-exactly', () => {
    const cfg = ['--config', join(dir, 'config.json')];
    const whole = run(['--out', join(dir, 'a'), '--steps', '2', ...cfg]);
    expect(whole.status, whole.stderr).toBe(0);
    const first = run(['--out', join(dir, 'b'), '--steps', '1', ...cfg]);
    expect(first.status, first.stderr).toBe(0);
    const resumed = run(['--out', join(dir, 'c'), '--steps', '1', '--resume', join(dir, 'b')]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('resumed from');
    for (const f of ['adapter_model.safetensors', 'optimizer.safetensors'])
      expect(readFileSync(join(dir, 'c', f)).equals(readFileSync(join(dir, 'a', f))), f).toBe(true);
    const config = JSON.parse(readFileSync(join(dir, 'a', 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
    const log = readFileSync(join(dir, 'c', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((l) => l.step)).toEqual([1, 2]);
    for (const l of log)
      expect(Object.keys(l)).toEqual(
        expect.arrayContaining(['loss', 'reward', 'accuracy', 'kl', 'grad_norm', 'learning_rate']),
      );
  });

  it('refuses an unknown option in --config, naming it', () => {
    writeFileSync(join(dir, 'bad.json'), '{"learning_rat": 1}');
    const r = run(['--out', join(dir, 'x'), '--config', join(dir, 'bad.json')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown option "learning_rat"');
  });
});
