/**
 * `npm run rl:probe -- --model <demo checkpoint> --data <rl:squares folder> --n N --seed S
 *   [--held-out 0] [--two-squares 0.5] [--tower] --out <prefix>`
 *
 * What the demo model's visual tokens carry: writes `<prefix>.f32` (one row a clip: the connector's
 * visual tokens [numQueries, hidden], or with --tower the tower's features [frames, patches, width])
 * and `<prefix>.json` (`dim`, `frames`, and per clip its `squares` — colour, direction, start — and
 * `asked`). `scripts/rl/probe.py` then fits a small MLP that reads one square's direction from them
 * and the square's colour, apart for one- and two-square clips: how much of "which square goes where"
 * survives each stage, without training a language model.
 *
 * The clips' tower features come from the cache `npm run rl:demo` writes beside them for this
 * model's tower; the labels from re-planning the folder with rl:squares' options (--n, --seed, --held-out,
 * --two-squares), checked against its JSONL.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { adapterName, closeNodeGpu, nodeGpuContext } from '../../src/gpu/testing/node-gpu';
import { openCheckpoint } from '../../src/model/checkpoint';
import { loadWeights } from '../../src/model/load';
import { MapWeightSource } from '../../src/model/sources/map';
import { TinyLlavaVideo } from '../../src/model/tinyllava';
import { parseDataset } from '../../src/rl-lite/dataset';
import { DEMO_FRAMES } from './demo-model';
import { featureCache, readFolder } from './feature-cache';
import { DEFAULTS, planSquaresDataset } from './squares';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    n: { type: 'string' },
    seed: { type: 'string', default: '0' },
    'held-out': { type: 'string', default: '0' },
    'two-squares': { type: 'string', default: '0.5' },
    tower: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
if (!args.model || !args.data || !args.n || !args.out)
  throw new Error(
    'usage: npm run rl:probe -- --model <dir> --data <folder> --n N --seed S --out <prefix> [--tower]',
  );

const dir = resolve(args.data);
const plan = planSquaresDataset({
  ...DEFAULTS,
  n: Number(args.n),
  seed: Number(args.seed),
  heldOut: Number(args['held-out']),
  twoSquares: Number(args['two-squares']),
});
// The folder must be these clips: its JSONL items are the plan's, in order.
const written = ['train.jsonl', 'test.jsonl']
  .filter((f) => existsSync(join(dir, f)))
  .flatMap((f) => parseDataset(readFileSync(join(dir, f), 'utf8'), f));
const planned = [...plan.train, ...plan.test];
if (written.length !== planned.length || written.some((it, i) => it.think !== planned[i].think))
  throw new Error(
    `${dir} is not rl:squares' --n ${args.n} --seed ${args.seed} (its items differ from the plan)`,
  );

const ctx = await nodeGpuContext({ disableF16: true });
const files = readFolder(args.model);
const ckpt = await openCheckpoint(new MapWeightSource(files, args.model));
const model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), DEMO_FRAMES);
const cache = await featureCache(ctx, model, dir);
const rows: Float32Array[] = [];
const labels: unknown[] = [];
for (const [i, item] of planned.entries()) {
  const entry = cache.get(item.video_filename);
  if (!entry)
    throw new Error(
      `${item.video_filename}: not in ${cache.file}; run npm run rl:demo on ${dir} with this tower first`,
    );
  if (args.tower) rows.push(entry.data);
  else {
    const t = ctx.upload(entry.data, entry.shape, 'f32');
    const visual = model.connector(t);
    rows.push(await ctx.read(visual));
    ctx.release(t, visual);
  }
  labels.push({ squares: plan.clips[i].squares, asked: plan.clips[i].asked });
}
const dim = rows[0].length;
const all = new Float32Array(rows.length * dim);
for (const [k, r] of rows.entries()) all.set(r, k * dim);
writeFileSync(`${args.out}.f32`, all);
writeFileSync(`${args.out}.json`, JSON.stringify({ dim, frames: DEMO_FRAMES, labels }));
console.log(
  `${adapterName(ctx)}: ${rows.length} clips × ${dim} (${args.tower ? 'tower features' : 'visual tokens'}) → ${args.out}.f32`,
);
model.destroy();
closeNodeGpu(ctx);
