import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from './checkpoint-dir';

const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bytes = (s: string) => new TextEncoder().encode(s);

describe('checkpoint folders', () => {
  it('save then load gives the same files; a second save replaces the first whole', () => {
    const dir = join(root, 'run', 'checkpoint');
    const first = new Map([
      ['adapter_config.json', bytes('{"r":4}')],
      ['optimizer.safetensors', new Uint8Array([1, 2, 3])],
    ]);
    saveCheckpoint(dir, first);
    expect(loadCheckpoint(dir)).toEqual(first);
    const second = new Map([['trainer_state.json', bytes('{"global_step":2}')]]);
    saveCheckpoint(dir, second);
    expect(loadCheckpoint(dir)).toEqual(second);
    expect(readdirSync(join(root, 'run'))).toEqual(['checkpoint']); // no partial or old folders left
  });

  it('refuses paths as names and says when there is no folder', () => {
    expect(() => saveCheckpoint(join(root, 'x'), new Map([['../evil', bytes('')]]))).toThrow(
      /plain file name/,
    );
    expect(existsSync(join(root, 'x'))).toBe(false);
    expect(() => loadCheckpoint(join(root, 'missing'))).toThrow(/no checkpoint folder at .*missing/);
  });
});
