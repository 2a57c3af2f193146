/**
 * `npm run rl:squares -- --out <dir> --n 200 [--seed S] [--colours red,green] [--held-out 0.2]
 *   [--two-squares 0.5]`
 *
 * Generates the moving-squares task (src/rl-lite/tasks/moving-squares.ts): `squares-NNNNN.mp4` clips
 * and `train.jsonl` / `test.jsonl` in the paper's JSONL beside them (the last round(n·held-out) items
 * are the test set). The same options give the same files; the first k items of a seed are the same
 * whatever --n.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { type DatasetItem, formatDataset } from '../../src/rl-lite/dataset';
import {
  CLIP_FPS,
  CLIP_FRAMES,
  CLIP_SIZE,
  COLOURS,
  type Colour,
  parseColours,
  renderFrame,
  type SquaresClip,
  sampleClip,
  seededRandom,
  squaresQuestionOf,
  squaresSolution,
  squaresThink,
} from '../../src/rl-lite/tasks/moving-squares';
import { encodeMp4 } from './encode';

export interface SquaresDatasetOptions {
  n: number;
  seed: number;
  colours: readonly Colour[];
  /** Fraction of items in test.jsonl. */
  heldOut: number;
  /** Probability of a two-square clip. */
  twoSquares: number;
}

export const DEFAULTS: Omit<SquaresDatasetOptions, 'n'> = {
  seed: 0,
  colours: COLOURS,
  heldOut: 0.2,
  twoSquares: 0.5,
};

export interface SquaresDataset {
  clips: SquaresClip[];
  train: DatasetItem[];
  test: DatasetItem[];
}

export const clipFileName = (i: number): string => `squares-${String(i).padStart(5, '0')}.mp4`;

/** The items and clips of a dataset, without writing anything. */
export function planSquaresDataset(o: SquaresDatasetOptions): SquaresDataset {
  const r = seededRandom(o.seed);
  const clips = Array.from({ length: o.n }, () =>
    sampleClip(r, { colours: o.colours, twoSquares: o.twoSquares }),
  );
  const items = clips.map(
    (clip, i): DatasetItem => ({
      problem: squaresQuestionOf(clip),
      solution: squaresSolution(clip),
      video_filename: clipFileName(i),
      problem_id: i,
      think: squaresThink(clip),
      squares: clip.squares.length, // ours, for splitting results (eval:compare --by squares)
    }),
  );
  const nTest = Math.round(o.n * o.heldOut);
  return { clips, train: items.slice(0, o.n - nTest), test: items.slice(o.n - nTest) };
}

/** Writes the clips (a few ffmpeg processes at a time) and the two JSONL files into `out`. */
export async function writeSquaresDataset(out: string, o: SquaresDatasetOptions): Promise<SquaresDataset> {
  const ds = planSquaresDataset(o);
  mkdirSync(out, { recursive: true });
  const format = { width: CLIP_SIZE, height: CLIP_SIZE, fps: CLIP_FPS };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < ds.clips.length; i = next++) {
      const frames = Array.from({ length: CLIP_FRAMES }, (_, t) => renderFrame(ds.clips[i], t));
      await encodeMp4(frames, format, join(out, clipFileName(i)));
    }
  };
  const jobs = Math.max(1, Math.min(4, availableParallelism()));
  await Promise.all(Array.from({ length: jobs }, worker));
  writeFileSync(join(out, 'train.jsonl'), formatDataset(ds.train));
  writeFileSync(join(out, 'test.jsonl'), formatDataset(ds.test));
  return ds;
}

function usage(msg?: string): never {
  if (msg) console.error(`rl:squares: ${msg}`);
  console.error(
    'usage: npm run rl:squares -- --out <dir> --n <count> [--seed S] [--colours red,green,blue,yellow] [--held-out 0.2] [--two-squares 0.5]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): { out: string; opts: SquaresDatasetOptions } {
  let out: string | null = null;
  let n: number | null = null;
  const o = { ...DEFAULTS };
  const num = (flag: string, v: string, ok: (x: number) => boolean, what: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || !ok(x)) usage(`${flag} ${v}: must be ${what}`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--out') out = next();
    else if (a === '--n') n = num(a, next(), (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
    else if (a === '--seed') o.seed = num(a, next(), (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0');
    else if (a === '--held-out') o.heldOut = num(a, next(), (x) => x >= 0 && x <= 1, 'between 0 and 1');
    else if (a === '--two-squares') o.twoSquares = num(a, next(), (x) => x >= 0 && x <= 1, 'between 0 and 1');
    else if (a === '--colours' || a === '--colors') {
      try {
        o.colours = parseColours(
          next()
            .split(',')
            .map((c) => c.trim().toLowerCase()),
        );
      } catch (e) {
        usage(`${a}: ${(e as Error).message}`);
      }
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!out) usage('--out is required');
  if (n === null) usage('--n is required');
  return { out: resolve(out), opts: { ...o, n } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { out, opts } = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  writeSquaresDataset(out, opts).then(
    (ds) => {
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(
        `wrote ${opts.n} clips, train.jsonl (${ds.train.length}) and test.jsonl (${ds.test.length}) to ${out} in ${s} s`,
      );
    },
    (e: Error) => {
      console.error(`rl:squares: ${e.message}`);
      process.exit(1);
    },
  );
}
