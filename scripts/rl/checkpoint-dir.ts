/**
 * Training checkpoints in a folder, for the CLI (`rl:train --out`, `--resume`): the files of
 * src/rl-lite/checkpoint.ts (adapter, optimizer state, trainer state) written and read as they are.
 * A save never leaves a half-written checkpoint where the last good one was: the files go to a
 * sibling folder first, which then takes the checkpoint's name in one rename.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function saveCheckpoint(dir: string, files: ReadonlyMap<string, Uint8Array>): void {
  for (const name of files.keys())
    if (name !== basename(name) || name.startsWith('.'))
      throw new Error(`checkpoint file name ${JSON.stringify(name)}: expected a plain file name`);
  mkdirSync(dirname(dir), { recursive: true });
  const partial = `${dir}.partial-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  for (const [name, bytes] of files) {
    const fd = openSync(join(partial, name), 'w');
    writeSync(fd, bytes);
    fsyncSync(fd); // on disk before the rename makes it the checkpoint
    closeSync(fd);
  }
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(partial, dir);
  rmSync(old, { recursive: true, force: true });
}

export function loadCheckpoint(dir: string): Map<string, Uint8Array> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`no checkpoint folder at ${dir} (expected the folder a training run wrote with --out)`);
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isFile()) files.set(name, new Uint8Array(readFileSync(path)));
  }
  return files;
}
