/**
 * `npm run rl:demo -- [--out .cache/rl-demo] [--train 2048] [--test 64] [--steps 1200] [--batch 8]
 *   [--pack 8] [--lr 3e-3] [--seed 0] [--eval-every 200] [--max-new 128] [--image 64] [--group 16]
 *   [--queries 16] [--q-scale 6] [--hidden 64] [--layers 2] [--train-connector [--connector-lr-scale 1]] [--vision]
 *   [--positions-steps 0 [--positions-lr 1e-3] [--positions-slots | --positions-frame]] [--grpo-steps 0 …]
 *   [--grpo-data <rl:squares folder>]
 *   [--init <folder> | --init-llm <folder>] [--save <folder>]`
 *
 * The demo model (issue 12): a toy TinyLLaVA-Video (scripts/rl/demo-model.ts) trained from scratch by
 * supervised fine-tuning on the moving-squares task — the language model in full (src/rl-lite/full.ts);
 * the connector too with --train-connector, the tower too with --vision; otherwise both keep their
 * random start and each clip's tower features are computed once (and cached beside the clips) — then
 * optionally GRPO with LoRA (demo-grpo.ts). --positions-steps first trains the connector alone to
 * keep where each colour's square is in every frame (connector-positions.ts). Greedy decoding on the
 * held-out clips gives accuracy and the rate of well-formed `<think>…</think><answer>…</answer>`,
 * with chance beside them. The shipped numbers come from `npm run eval` on the saved folder (the
 * app's own decode path in Chromium).
 *
 * Frames: the clips (rl:squares' H.264 MP4s) are decoded by ffmpeg to RGBA, 16 of the 24 frames
 * picked as the model's sampling does (linspace), and resized and normalised on the GPU by the
 * app's resize kernel.
 *
 * Runs under Node with Dawn on the adapter VK_ICD_FILENAMES names, in f32. --save writes the trained
 * model as a hub checkpoint folder (f32 safetensors, config, tokenizer), reloads it and checks that
 * it gives the trained model's logits.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { GpuContext } from '../../src/gpu/context';
import { ADAMW_DEFAULTS } from '../../src/gpu/kernels/adamw';
import { packRgba, resizeBicubic } from '../../src/gpu/kernels/resize';
import type { Tensor } from '../../src/gpu/tensor';
import { adapterName, closeNodeGpu, nodeGpuContext } from '../../src/gpu/testing/node-gpu';
import { openCheckpoint } from '../../src/model/checkpoint';
import { generate } from '../../src/model/generate';
import { loadWeights } from '../../src/model/load';
import { buildPrompt } from '../../src/model/prompt';
import { parseHeader, SINGLE_FILE } from '../../src/model/safetensors';
import { GREEDY } from '../../src/model/sampling';
import { MapWeightSource } from '../../src/model/sources/map';
import { TinyLlavaVideo } from '../../src/model/tinyllava';
import { readTokenizer, type TextTokenizer } from '../../src/model/tokenizer';
import { PREFIX } from '../../src/model/weight-manifest';
import { connectorParamNames } from '../../src/rl-lite/connector';
import { type DatasetItem, parseDataset, sftTarget } from '../../src/rl-lite/dataset';
import { type FeaturePrompt, FullTrainer } from '../../src/rl-lite/full';
import type { ScaleRewards } from '../../src/rl-lite/grpo-loss';
import { AdamW } from '../../src/rl-lite/optimizer';
import { scoreCompletion } from '../../src/rl-lite/rewards';
import {
  CLIP_FRAMES,
  CLIP_SIZE,
  type SquaresClip,
  seededRandom,
  shuffled,
} from '../../src/rl-lite/tasks/moving-squares';
import { visionParamNames } from '../../src/rl-lite/vision';
import { linspaceIndices } from '../../src/video/sampling';
import { positionsStage } from './connector-positions';
import { grpoStage, type HostGrpoItem, mergeAdapter } from './demo-grpo';
import { DEMO_EOS, DEMO_FRAMES, demoFiles, joinKv, trainedWeights } from './demo-model';
import { featureCache, readFolder } from './feature-cache';
import { DEFAULTS, planSquaresDataset, writeSquaresDataset } from './squares';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: '.cache/rl-demo' },
    train: { type: 'string', default: '2048' },
    test: { type: 'string', default: '64' },
    steps: { type: 'string', default: '1200' },
    batch: { type: 'string', default: '8' },
    pack: { type: 'string', default: '8' },
    lr: { type: 'string', default: '3e-3' },
    seed: { type: 'string', default: '0' },
    'eval-every': { type: 'string', default: '200' },
    'max-new': { type: 'string', default: '128' },
    save: { type: 'string' },
    image: { type: 'string', default: '64' },
    vision: { type: 'boolean', default: false },
    'two-squares': { type: 'string', default: '0.5' },
    init: { type: 'string' },
    'init-llm': { type: 'string' },
    target: { type: 'string', default: 'think' },
    'embed-std': { type: 'string', default: '0.02' },
    group: { type: 'string', default: '16' },
    hidden: { type: 'string', default: '64' },
    'q-scale': { type: 'string', default: '6' },
    'train-connector': { type: 'boolean', default: false },
    'connector-lr-scale': { type: 'string', default: '1' },
    layers: { type: 'string', default: '2' },
    queries: { type: 'string', default: '16' },
    'grpo-steps': { type: 'string', default: '0' },
    'grpo-prompts': { type: 'string', default: '2' },
    'grpo-train': { type: 'string', default: '128' },
    'grpo-data': { type: 'string' },
    'sft-data': { type: 'string' },
    generations: { type: 'string', default: '8' },
    'grpo-lr': { type: 'string', default: '2e-3' },
    rank: { type: 'string', default: '8' },
    temperature: { type: 'string', default: '1' },
    beta: { type: 'string', default: '0.01' },
    'scale-rewards': { type: 'string', default: 'group' },
    'positions-steps': { type: 'string', default: '0' },
    'positions-lr': { type: 'string', default: '1e-3' },
    'positions-slots': { type: 'boolean', default: false },
    'positions-frame': { type: 'boolean', default: false },
  },
});
const out = resolve(args.out);
const nTrain = Number(args.train);
const nTest = Number(args.test);
const steps = Number(args.steps);
const batch = Number(args.batch);
const seed = Number(args.seed);
const evalEvery = Number(args['eval-every']);
const maxNew = Number(args['max-new']);
if (!['group', 'batch', 'none'].includes(args['scale-rewards']))
  throw new Error(`--scale-rewards ${args['scale-rewards']}: group, batch or none`);

/** A clip's item with its tokens and its cached pixels (tower trained) or vision features (frozen). */
interface Example extends FeaturePrompt {
  item: DatasetItem;
  completion: number[];
}

/** The clips and JSONL of rl:squares, generated once per (n, held-out, seed). */
async function dataset(): Promise<{
  dir: string;
  train: DatasetItem[];
  test: DatasetItem[];
  clips: SquaresClip[];
}> {
  const n = nTrain + nTest;
  const two = Number(args['two-squares']);
  const dir = join(out, `squares-regions-n${n}-test${nTest}-two${two}-seed${seed}`); // thinks name regions
  const o = { ...DEFAULTS, n, seed, heldOut: nTest / n, twoSquares: two };
  if (!existsSync(join(dir, 'test.jsonl'))) {
    console.log(`writing ${n} clips to ${dir}`);
    await writeSquaresDataset(dir, o);
  }
  // The clips' squares (by problem_id), for the connector's position stage.
  return {
    dir,
    train: readSplit(dir, 'train.jsonl'),
    test: readSplit(dir, 'test.jsonl'),
    clips: planSquaresDataset(o).clips,
  };
}

/** One JSONL file of an rl:squares folder. */
function readSplit(dir: string, file: string): DatasetItem[] {
  return parseDataset(readFileSync(join(dir, file), 'utf8'), file);
}

/** The clip's frames as RGBA bytes, decoded by ffmpeg: [CLIP_FRAMES][H·W·4]. */
function decodeClip(path: string): Uint8Array[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'rgba', '-'], {
    maxBuffer: 64 << 20,
  });
  const frame = CLIP_SIZE * CLIP_SIZE * 4;
  if (raw.length !== CLIP_FRAMES * frame)
    throw new Error(`${path}: ${raw.length} bytes decoded, expected ${CLIP_FRAMES} frames of ${frame}`);
  return Array.from(
    { length: CLIP_FRAMES },
    (_, t) => new Uint8Array(raw.buffer, raw.byteOffset + t * frame, frame),
  );
}

/** 16 frames (linspace) → pixels [16, 3, S, S] by the GPU resize with the model's norm. */
function clipPixels(ctx: GpuContext, model: TinyLlavaVideo, frames: Uint8Array[]): Tensor {
  const { imageSize: S, imageMean: mean, imageStd: std } = model.config.vision;
  const pixels = ctx.empty([DEMO_FRAMES, 3, S, S], 'f32');
  ctx.tidy(() => {
    for (const [f, t] of linspaceIndices(frames.length, DEMO_FRAMES).entries()) {
      const src = ctx.upload(packRgba(frames[t]), [CLIP_SIZE, CLIP_SIZE], 'u32');
      resizeBicubic(ctx, src, CLIP_SIZE, CLIP_SIZE, S, pixels, f, { norm: { mean, std } });
    }
  });
  return pixels;
}

async function examples(
  ctx: GpuContext,
  model: TinyLlavaVideo,
  tok: TextTokenizer,
  dir: string,
  items: DatasetItem[],
): Promise<Example[]> {
  const cache = args.vision ? null : await featureCache(ctx, model, dir);
  const out: Example[] = [];
  for (const item of items) {
    const p = buildPrompt(tok, { question: item.problem });
    let features: Tensor | null = null;
    let pixels: Tensor | null = null;
    const cached = cache?.get(item.video_filename);
    if (cached) features = ctx.upload(cached.data, cached.shape, 'f32');
    else {
      pixels = clipPixels(ctx, model, decodeClip(join(dir, item.video_filename)));
      if (cache) {
        features = model.visionFeatures(pixels);
        ctx.release(pixels);
        pixels = null;
        cache.put(item.video_filename, await ctx.read(features), [...features.shape]);
      } else await ctx.sync(); // bounded queue: one clip's work at a time
    }
    out.push({
      item,
      before: p.before,
      after: p.after,
      features,
      pixels,
      completion: [...tok.encode(args.target === 'answer' ? item.solution : sftTarget(item)), DEMO_EOS],
    });
  }
  cache?.save();
  return out;
}

/** The clip's vision features: the cached ones, or the (trained) tower's of its pixels. */
function clipFeatures(model: TinyLlavaVideo, ex: Example): Tensor {
  return ex.features ?? model.visionFeatures(ex.pixels!);
}

/** "starts near the top left and" → "the top left": where the think says the square starts. */
const startRegion = (text: string): string | null =>
  /starts near (the [a-z]+(?: [a-z]+)?) and/.exec(text)?.[1] ?? null;

/**
 * Greedy completions of the examples: accuracy, well-formed rate, how often the think names the
 * square's starting region (of 9; read from the video, so a sign the visual tokens carry where the
 * square is), and a few samples.
 */
async function evaluate(model: TinyLlavaVideo, tok: TextTokenizer, set: Example[]) {
  let acc = 0;
  let formatted = 0;
  let region = 0;
  const samples: string[] = [];
  for (const ex of set) {
    const feats = clipFeatures(model, ex);
    const visual = model.connector(feats);
    if (feats !== ex.features) model.ctx.release(feats);
    const r = await generate(model, tok, {
      before: ex.before,
      after: ex.after,
      visual,
      sampling: { ...GREEDY, maxNewTokens: maxNew },
      eosIds: [DEMO_EOS],
    });
    model.ctx.release(visual);
    const text = r.sequences[0].text;
    const s = scoreCompletion(text, ex.item.solution);
    acc += s.accuracy;
    formatted += s.format > 0 ? 1 : 0;
    region += startRegion(text) !== null && startRegion(text) === startRegion(ex.item.think ?? '') ? 1 : 0;
    if (samples.length < 3) samples.push(`${ex.item.solution} ← ${text}`);
  }
  return { accuracy: acc / set.length, format: formatted / set.length, region: region / set.length, samples };
}

/** Writes the trained model as a checkpoint folder, reloads it and compares one prompt's logits. */
async function save(ctx: GpuContext, model: TinyLlavaVideo, trainer: FullTrainer, dir: string, ex: Example) {
  const weights = await trainedWeights(ctx, trainer.params);
  // A frozen tower or connector (trained by an earlier run, or random) is saved as the model holds it.
  const frozen = [
    ...visionParamNames(model.config.vision).map((n) => PREFIX.vision + n),
    ...connectorParamNames(model.config.connector).map((n) => PREFIX.connector + n),
  ];
  for (const name of frozen)
    if (!weights.has(name.replace(/to_[kv]\.weight$/, 'to_kv.weight')))
      weights.set(name, await ctx.read(model.weights.get(name)));
  const files = demoFiles(
    joinKv(weights),
    model.config.vision.imageSize,
    undefined,
    undefined,
    {
      group: model.config.connector.group,
      numQueries: model.config.connector.numQueries,
      layers: model.config.connector.layers,
    },
    (({ hidden, layers, heads, kvHeads, mlp }) => ({ hidden, layers, heads, kvHeads, mlp }))(
      model.config.text,
    ),
  );
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
  const logitsOf = async (m: TinyLlavaVideo) => {
    const feats = clipFeatures(m, ex);
    const visual = m.connector(feats);
    if (feats !== ex.features) ctx.release(feats);
    const logits = m.prefill(ex.before, visual, ex.after);
    const row = await ctx.read(logits);
    ctx.release(visual, logits);
    return row;
  };
  const want = await logitsOf(model);
  const ckpt = await openCheckpoint(new MapWeightSource(files, dir));
  const again = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), DEMO_FRAMES);
  const got = await logitsOf(again);
  again.destroy();
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(want[i] - got[i]));
  const bytes = [...files.values()].reduce((n, b) => n + b.byteLength, 0);
  console.log(
    `saved ${dir} (${(bytes / 2 ** 20).toFixed(2)} MiB); reloaded, its logits differ by ${err.toExponential(1)}`,
  );
  if (!(err < 1e-3)) throw new Error('the saved model does not reproduce the trained one');
}

/**
 * The language model's tensors of a saved demo checkpoint (f32 safetensors), for --init-llm: a new
 * geometry of tower or connector under a language model that already reads the task.
 */
function languageModelOf(dir: string): Map<string, Float32Array> {
  const bytes = readFileSync(join(dir, SINGLE_FILE));
  const n = Number(bytes.readBigUInt64LE(0));
  const { entries } = parseHeader(bytes.subarray(8, 8 + n), SINGLE_FILE, n, bytes.byteLength);
  const out = new Map<string, Float32Array>();
  for (const t of entries) {
    if (!t.name.startsWith(PREFIX.text)) continue;
    if (t.dtype !== 'F32') throw new Error(`${dir}: ${t.name} is ${t.dtype}, expected F32`);
    out.set(
      t.name,
      new Float32Array(bytes.buffer.slice(bytes.byteOffset + t.start, bytes.byteOffset + t.end)),
    );
  }
  return out;
}

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  const data = await dataset();
  const ctx = await nodeGpuContext({ disableF16: true });
  console.log(
    `adapter: ${adapterName(ctx)}; ${data.train.length} train / ${data.test.length} held-out clips`,
  );
  const files = args.init
    ? readFolder(resolve(args.init))
    : demoFiles(
        args['init-llm'] ? languageModelOf(resolve(args['init-llm'])) : new Map(),
        Number(args.image),
        undefined,
        Number(args['embed-std']),
        {
          group: Number(args.group),
          numQueries: Number(args.queries),
          layers: 1,
        },
        {
          hidden: Number(args.hidden),
          layers: Number(args.layers),
          mlp: 3 * Number(args.hidden),
        },
        Number(args['q-scale']),
      );
  const ckpt = await openCheckpoint(new MapWeightSource(files, args.init ?? 'tiny-r1-shapes (random start)'));
  const model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), DEMO_FRAMES);
  const tok = await readTokenizer(async (name) => {
    const b = files.get(name);
    return b ? new TextDecoder().decode(b) : null;
  });
  let t0 = performance.now();
  // GRPO alone (--steps 0 from --init) samples its prompts from the first --grpo-train clips.
  const trainItems = steps > 0 ? data.train : data.train.slice(0, Number(args['grpo-train']));
  // An rl:squares folder (its train.jsonl) or one JSONL file in such a folder: more clips, features cached there.
  const extraExamples = (at: string) => {
    const p = resolve(at);
    const [dir, file] = p.endsWith('.jsonl') ? [dirname(p), basename(p)] : [p, 'train.jsonl'];
    return examples(ctx, model, tok, dir, readSplit(dir, file));
  };
  const train = await examples(ctx, model, tok, data.dir, trainItems);
  if (args['sft-data'] && steps > 0) train.push(...(await extraExamples(args['sft-data'])));
  const test = await examples(ctx, model, tok, data.dir, data.test);
  await ctx.sync();
  const featureMs = (performance.now() - t0) / (train.length + test.length);
  const seqLen = train[0].before.length + 64 + train[0].after.length + train[0].completion.length;
  console.log(
    `vision features: ${featureMs.toFixed(0)} ms a clip (decode + resize + tower); ~${seqLen} positions a sequence`,
  );

  // Unless --train-connector, the connector keeps its random start, so its tokens keep their variation across
  // clips (trained along, it learns first to make them all alike, a way to quiet the input the language
  // model cannot read yet); only the language model (and the tower with --vision) learns.
  const trainer = new FullTrainer(ctx, model, { vision: args.vision, connector: args['train-connector'] });
  const positionSteps = Number(args['positions-steps']);
  if (positionSteps > 0) {
    if (args.vision) throw new Error('--positions-steps needs the frozen tower (not --vision)');
    const withClip = (xs: Example[]) =>
      xs.map((x) => ({ features: x.features!, clip: data.clips[Number(x.item.problem_id)] }));
    console.log(`positions stage: the connector alone, ${positionSteps} steps of 16 clips`);
    await positionsStage(
      ctx,
      trainer.connector,
      withClip(train.slice(0, trainItems.length)),
      withClip(test),
      {
        steps: positionSteps,
        batch: 16,
        lr: Number(args['positions-lr']),
        times: linspaceIndices(CLIP_FRAMES, DEMO_FRAMES),
        rand: seededRandom(seed + 2),
        evalEvery: 200,
        slots: args['positions-slots'],
        frame: args['positions-frame'],
      },
    );
  }
  // The connector's weights start small (std 0.02): Adam moves each by ~lr a step, so it gets a fraction.
  const connectorScale = Number(args['connector-lr-scale']);
  const trained = trainer.params.map((q) =>
    q.name.startsWith(PREFIX.connector) ? { ...q, lrScale: connectorScale } : q,
  );
  const opt = new AdamW(ctx, trained, {
    ...ADAMW_DEFAULTS,
    lr: Number(args.lr),
    weightDecay: 0,
    maxGradNorm: 1,
    schedule: 'cosine',
    warmupRatio: 0.05,
    totalSteps: steps,
  });
  opt.zeroGrads();
  const nParams = trained.reduce((n, q) => n + q.p.size, 0);
  const parts = ['LLM', args['train-connector'] ? 'connector' : null, args.vision ? 'vision tower' : null]
    .filter(Boolean)
    .join(' + ');
  console.log(`training ${nParams} parameters (${parts}), batch ${batch}, ${steps} steps`);
  const rand = seededRandom(seed + 1);
  let order: number[] = [];
  const stepMs: number[] = [];
  for (let s = 1; s <= steps; s++) {
    if (order.length < batch) order = [...order, ...shuffled(rand, train.keys())];
    const items = order.splice(0, batch).map((i) => train[i]);
    t0 = performance.now();
    const r = await trainer.sftStep(items, opt, Number(args.pack));
    stepMs.push(performance.now() - t0);
    if (s % 10 === 0 || s === 1)
      console.log(
        `step ${s}: loss ${r.loss.toFixed(3)}, |g| ${r.gradNorm.toFixed(2)}, lr ${r.lr.toExponential(2)}, ${stepMs[stepMs.length - 1].toFixed(0)} ms`,
      );
    if (evalEvery > 0 && s % evalEvery === 0 && s < steps) {
      trainer.syncModel();
      const e = await evaluate(model, tok, test);
      console.log(
        `  held-out (${test.length}): accuracy ${e.accuracy.toFixed(2)}, format ${e.format.toFixed(2)}, start region ${e.region.toFixed(2)}`,
      );
      for (const x of e.samples) console.log(`    ${x}`);
    }
  }
  trainer.syncModel();
  t0 = performance.now();
  const heldOut = await evaluate(model, tok, test);
  const evalMs = (performance.now() - t0) / test.length;
  const seen = await evaluate(model, tok, train.slice(0, test.length));
  const sorted = [...stepMs].sort((a, b) => a - b);
  const summary: Record<string, unknown> = {
    adapter: adapterName(ctx),
    init: args.init ?? null,
    vision: args.vision,
    image: model.config.vision.imageSize,
    train: train.length,
    heldOut: test.length,
    steps,
    batch,
    lr: Number(args.lr),
    stepMsMedian: Math.round(sorted[sorted.length >> 1]),
    msPerSequence: Math.round(sorted[sorted.length >> 1] / batch),
    evalMsPerClip: Math.round(evalMs),
    sft: {
      heldOutAccuracy: heldOut.accuracy,
      heldOutFormat: heldOut.format,
      heldOutStartRegion: heldOut.region,
      trainAccuracy: seen.accuracy,
      trainFormat: seen.format,
      trainStartRegion: seen.region,
    },
    chance: { accuracy: 0.25, format: 0, startRegion: 1 / 9 },
    samples: heldOut.samples,
  };
  console.log(JSON.stringify(summary, null, 2));
  const grpoSteps = Number(args['grpo-steps']);
  if (grpoSteps > 0) {
    // Stage 2: the visual tokens of the supervised model, once per clip.
    // GRPO's prompts: the supervised stage's clips, or (--grpo-data) another rl:squares folder's training
    // clips, whose answers alone are used (their thinks never are).
    const pool = args['grpo-data'] ? await extraExamples(args['grpo-data']) : train;
    console.log(`GRPO on ${pool.length} clips${args['grpo-data'] ? ` from ${args['grpo-data']}` : ''}`);
    const items: HostGrpoItem[] = [];
    for (const ex of pool) {
      const feats = clipFeatures(model, ex);
      const visual = model.connector(feats);
      // Another folder's clips are GRPO's alone: their features go once their tokens are made.
      if (feats !== ex.features || args['grpo-data']) ctx.release(feats);
      items.push({
        before: ex.before,
        after: ex.after,
        visual: await ctx.read(visual),
        shape: [...visual.shape],
        solution: ex.item.solution,
      });
      ctx.release(visual);
    }
    const g = await grpoStage(ctx, model, tok, DEMO_EOS, items, {
      steps: grpoSteps,
      prompts: Number(args['grpo-prompts']),
      generations: Number(args.generations),
      lr: Number(args['grpo-lr']),
      rank: Number(args.rank),
      alpha: 2 * Number(args.rank),
      temperature: Number(args.temperature),
      maxNew: maxNew,
      beta: Number(args.beta),
      scaleRewards: args['scale-rewards'] as ScaleRewards,
      seed,
      evalEvery,
      onEval: async (s) => {
        const e = await evaluate(model, tok, test); // 64 clips greedy: seconds, so every evaluation is whole
        console.log(
          `  grpo ${s}, held-out (${test.length}): accuracy ${e.accuracy.toFixed(2)}, format ${e.format.toFixed(2)}, start region ${e.region.toFixed(2)}`,
        );
        for (const x of e.samples) console.log(`    ${x}`);
        if (s === grpoSteps) {
          const seenG = await evaluate(model, tok, train.slice(0, test.length));
          summary.grpo = {
            steps: grpoSteps,
            heldOutAccuracy: e.accuracy,
            heldOutFormat: e.format,
            heldOutStartRegion: e.region,
            trainAccuracy: seenG.accuracy,
            trainFormat: seenG.format,
          };
        }
      },
    });
    const sortedG = g.log.map((r) => r.ms).sort((a, b) => a.rollout + a.backward - b.rollout - b.backward);
    summary.grpoStepMsMedian = sortedG[sortedG.length >> 1];
    summary.grpoConfig = {
      prompts: Number(args['grpo-prompts']),
      generations: Number(args.generations),
      lr: Number(args['grpo-lr']),
      rank: Number(args.rank),
      temperature: Number(args.temperature),
      beta: Number(args.beta),
      scale_rewards: args['scale-rewards'],
      clips: pool.length,
      data: args['grpo-data'] ?? 'the supervised clips',
    };
    mergeAdapter(ctx, g.lora, trainer.params);
    await ctx.sync(); // the merge's commands run before the adapter's buffers are destroyed
    g.lora.destroy();
    g.policy.destroy();
    if (pool !== train) for (const ex of pool) if (ex.pixels) ctx.release(ex.pixels); // features went above
    console.log(JSON.stringify({ grpo: summary.grpo, grpoStepMsMedian: summary.grpoStepMsMedian }, null, 2));
  }
  writeFileSync(join(out, `summary-${summary.image}px.json`), `${JSON.stringify(summary, null, 2)}\n`);
  if (args.save) await save(ctx, model, trainer, resolve(args.save), test[0]);
  opt.destroy();
  trainer.destroy();
  for (const ex of [...train, ...test]) ctx.release(...[ex.features, ex.pixels].filter((t) => t != null));
  model.destroy();
  closeNodeGpu(ctx);
}

await main();
