/**
 * npm run rl:train -- --model <dir|URL|hub id> --data <jsonl> [--videos <dir>] --out <dir>
 *                     [--steps N] [--sft] [--config <json>] [--resume <dir>] [--frames 16]
 *
 * Trains a LoRA adapter on a dataset in the paper's JSONL (problem, solution, video_filename,
 * problem_id; videos beside the JSONL unless --videos says where): GRPO by default, as the paper's
 * code runs it (src/rl-lite/grpo.ts), or cold-start SFT on `<think>{think}</think>{solution}` with
 * --sft. Runs under Node with Dawn on the adapter VK_ICD_FILENAMES names; the model is loaded with
 * plain weights. Frames: ffmpeg decodes each clip to RGBA, N frames are picked uniformly and resized
 * by the app's GPU resize with the model's normalisation; each video's visual tokens are computed once.
 *
 * --config: a JSON object with TRL's names — GRPO (num_generations, beta, loss_type, scale_rewards,
 * epsilon, epsilon_high, num_iterations, temperature, top_p, top_k, max_completion_length,
 * reward_weights, advantage_noise, seed), the optimizer (learning_rate, lr_scheduler_type,
 * warmup_ratio, max_grad_norm, weight_decay, adam_beta1, adam_beta2, adam_epsilon), the adapter (r,
 * lora_alpha, lora_dropout, use_rslora, target_modules as ["q_proj", …]) and
 * per_device_train_batch_size (prompts a step); and ours, pack_sequences (completions stacked in one
 * pass of the loss, default 1: faster on small models, that many times the activations). Writes to --out after every step: the adapter in
 * PEFT's layout, optimizer.safetensors, trainer_state.json (a checkpoint --resume continues
 * bit-exactly) and log.jsonl (one line a step).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ADAMW_DEFAULTS } from '../../src/gpu/kernels/adamw';
import { packRgba, resizeBicubic } from '../../src/gpu/kernels/resize';
import type { Tensor } from '../../src/gpu/tensor';
import { adapterName, closeNodeGpu, nodeGpuContext } from '../../src/gpu/testing/node-gpu';
import { openCheckpoint } from '../../src/model/checkpoint';
import { loadWeights } from '../../src/model/load';
import { buildPrompt } from '../../src/model/prompt';
import { HttpWeightSource } from '../../src/model/sources/http';
import { MapWeightSource } from '../../src/model/sources/map';
import { hubBaseUrl, resolveModel } from '../../src/model/sources/resolve';
import { TinyLlavaVideo } from '../../src/model/tinyllava';
import { readTokenizer } from '../../src/model/tokenizer';
import { readText } from '../../src/model/weight-source';
import { encodeCheckpoint, resumeTrainer } from '../../src/rl-lite/checkpoint';
import { type DatasetItem, parseDataset, sftTarget } from '../../src/rl-lite/dataset';
import { GRPO_PAPER, type GrpoConfig, Trainer } from '../../src/rl-lite/grpo';
import { LORA_DEFAULTS, LORA_TARGETS, LoraAdapter, type LoraTarget } from '../../src/rl-lite/lora';
import { AdamW, type LrSchedule } from '../../src/rl-lite/optimizer';
import { Policy } from '../../src/rl-lite/policy';
import { linspaceIndices } from '../../src/video/sampling';
import { loadCheckpoint, saveCheckpoint } from './checkpoint-dir';

const USAGE = `usage: npm run rl:train -- --model <dir|URL|hub id> --data <jsonl> [--videos <dir>] --out <dir>
                        [--steps 10] [--sft] [--config <json>] [--resume <dir>] [--frames 16]`;

function fail(message: string): never {
  console.error(`rl:train: ${message}\n${USAGE}`);
  process.exit(2);
}

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    videos: { type: 'string' },
    out: { type: 'string' },
    steps: { type: 'string', default: '10' },
    sft: { type: 'boolean', default: false },
    config: { type: 'string' },
    resume: { type: 'string' },
    frames: { type: 'string', default: '16' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  console.log(USAGE);
  process.exit(0);
}
for (const k of ['model', 'data', 'out'] as const) if (!a[k]) fail(`--${k} is required`);
const steps = Number(a.steps);
const nFrames = Number(a.frames);
if (!(Number.isInteger(steps) && steps > 0)) fail(`--steps must be a positive whole number, got ${a.steps}`);
if (!(Number.isInteger(nFrames) && nFrames > 0))
  fail(`--frames must be a positive whole number, got ${a.frames}`);
const dataPath = resolve(a.data!);
if (!existsSync(dataPath)) fail(`no such file: ${dataPath}`);
const videos = resolve(a.videos ?? dirname(dataPath));
const out = resolve(a.out!);

/** The --config object: TRL's option names, each checked for its type. */
function readConfig(): Record<string, unknown> {
  if (!a.config) return {};
  let c: unknown;
  try {
    c = JSON.parse(readFileSync(a.config, 'utf8'));
  } catch (e) {
    fail(`${a.config} is not a JSON file: ${(e as Error).message}`);
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) fail(`${a.config}: not a JSON object`);
  return c as Record<string, unknown>;
}
const cfg = readConfig();
const num = (k: string, dflt: number): number => {
  const v = cfg[k] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v))
    fail(`--config: "${k}" must be a number, got ${JSON.stringify(v)}`);
  return v;
};
const str = <T extends string>(k: string, dflt: T, allowed: readonly T[]): T => {
  const v = cfg[k] ?? dflt;
  if (!allowed.includes(v as T))
    fail(`--config: "${k}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
};
const known = new Set([
  ...Object.keys(GRPO_PAPER),
  'learning_rate',
  'lr_scheduler_type',
  'warmup_ratio',
  'max_grad_norm',
  'weight_decay',
  'adam_beta1',
  'adam_beta2',
  'adam_epsilon',
  'r',
  'lora_alpha',
  'lora_dropout',
  'use_rslora',
  'target_modules',
  'per_device_train_batch_size',
  'pack_sequences',
]);
for (const k of Object.keys(cfg)) if (!known.has(k)) fail(`--config: unknown option "${k}"`);

const grpo: GrpoConfig = {
  ...GRPO_PAPER,
  num_generations: num('num_generations', GRPO_PAPER.num_generations),
  num_iterations: num('num_iterations', GRPO_PAPER.num_iterations),
  beta: num('beta', GRPO_PAPER.beta),
  loss_type: str('loss_type', GRPO_PAPER.loss_type, ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const),
  scale_rewards: str('scale_rewards', GRPO_PAPER.scale_rewards, ['group', 'batch', 'none'] as const),
  epsilon: num('epsilon', GRPO_PAPER.epsilon),
  epsilon_high: cfg.epsilon_high === undefined ? undefined : num('epsilon_high', 0),
  advantage_noise: num('advantage_noise', GRPO_PAPER.advantage_noise),
  max_completion_length: num('max_completion_length', GRPO_PAPER.max_completion_length),
  temperature: num('temperature', GRPO_PAPER.temperature),
  top_p: num('top_p', GRPO_PAPER.top_p),
  top_k: num('top_k', GRPO_PAPER.top_k),
  reward_weights: (cfg.reward_weights as [number, number] | null | undefined) ?? null,
  seed: num('seed', GRPO_PAPER.seed),
  pack_sequences: num('pack_sequences', 1),
};
const targetNames =
  (cfg.target_modules as string[] | undefined) ??
  LORA_DEFAULTS.targets.map((t) => LORA_TARGETS[t].split('.')[1]);
const targets = targetNames.map((m) => {
  const t = (Object.keys(LORA_TARGETS) as LoraTarget[]).find((k) => LORA_TARGETS[k].endsWith(`.${m}`));
  if (!t)
    fail(
      `--config: target module "${m}" is not one of ${Object.values(LORA_TARGETS)
        .map((n) => n.split('.')[1])
        .join(', ')}`,
    );
  return t;
});
/** What a resumed run must keep: saved beside the checkpoint, read back when --config is not given. */
const RUN_FILE = 'rl_train.json';
const saved =
  a.resume && !a.config && existsSync(join(resolve(a.resume), RUN_FILE))
    ? (JSON.parse(readFileSync(join(resolve(a.resume), RUN_FILE), 'utf8')) as {
        per_device_train_batch_size?: number;
      })
    : {};
const batch = num('per_device_train_batch_size', saved.per_device_train_batch_size ?? 1);

/** A video's frames as RGBA bytes, decoded by ffmpeg at their own size. */
function decodeVideo(path: string): { width: number; height: number; frames: Uint8Array[] } {
  const probe = JSON.parse(
    execFileSync(
      'ffprobe',
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'json', path],
      {
        encoding: 'utf8',
      },
    ),
  ) as { streams: { width: number; height: number }[] };
  const { width, height } = probe.streams[0] ?? fail(`${path}: no video stream`);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'rgba', '-'], {
    maxBuffer: 1 << 30,
  });
  const size = width * height * 4;
  const n = Math.floor(raw.length / size);
  if (n === 0) fail(`${path}: no frames decoded`);
  return {
    width,
    height,
    frames: Array.from({ length: n }, (_, t) => new Uint8Array(raw.buffer, raw.byteOffset + t * size, size)),
  };
}

async function main(): Promise<number> {
  let items: DatasetItem[];
  try {
    items = parseDataset(readFileSync(dataPath, 'utf8'), relative(process.cwd(), dataPath));
  } catch (e) {
    fail((e as Error).message);
  }
  const missing = items.find((it) => !existsSync(join(videos, it.video_filename)));
  if (missing)
    fail(`item ${missing.problem_id}: no video ${join(videos, missing.video_filename)} (use --videos)`);
  mkdirSync(out, { recursive: true });

  const m = resolveModel(a.model!, {
    endpoint: process.env.HF_ENDPOINT,
    isFolder: (p) => existsSync(p) && statSync(p).isDirectory(),
  });
  const src =
    m.kind === 'folder'
      ? new MapWeightSource(
          new Map(readdirSync(m.path).map((f) => [f, new Uint8Array(readFileSync(join(m.path, f)))])),
          m.path,
        )
      : new HttpWeightSource(m.kind === 'hub' ? hubBaseUrl(m) : m.base);
  const ctx = await nodeGpuContext();
  const ckpt = await openCheckpoint(src);
  const tokenizer = await readTokenizer(async (f) => ((await src.has(f)) ? readText(src, f) : null));
  const model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt));
  const eosIds = ckpt.generation.eosTokenIds.length ? ckpt.generation.eosTokenIds : [tokenizer.endOfTextId];
  console.log(
    `adapter ${adapterName(ctx)} (${ctx.actDtype}) · model ${src.label} · ${items.length} items · ${a.sft ? 'SFT' : 'GRPO'}`,
  );

  // Visual tokens of each video, once.
  const visual = new Map<string, Tensor>();
  const { imageSize: S, imageMean: mean, imageStd: std } = model.config.vision;
  for (const it of items) {
    if (visual.has(it.video_filename)) continue;
    const v = decodeVideo(join(videos, it.video_filename));
    const pixels = ctx.empty([nFrames, 3, S, S], ctx.actDtype);
    ctx.tidy(() => {
      for (const [f, t] of linspaceIndices(v.frames.length, nFrames).entries()) {
        const rgba = ctx.upload(packRgba(v.frames[t]), [v.height, v.width], 'u32');
        resizeBicubic(ctx, rgba, v.width, v.height, S, pixels, f, { norm: { mean, std } });
      }
    });
    const features = model.visionFeatures(pixels);
    visual.set(it.video_filename, model.connector(features));
    ctx.release(pixels, features);
  }
  const prompts = items.map((it) => {
    const p = buildPrompt(tokenizer, { question: it.problem });
    return { before: p.before, after: p.after, visual: visual.get(it.video_filename)! };
  });

  const policy = new Policy(ctx, model);
  let trainer: Trainer;
  if (a.resume) {
    trainer = await resumeTrainer(
      { ctx, model, tokenizer, eosIds, policy },
      loadCheckpoint(resolve(a.resume)),
      a.resume,
    );
    console.log(`resumed from ${a.resume} at step ${trainer.optimizer.step}`);
  } else {
    const lora = new LoraAdapter(ctx, model.config.text, {
      ...LORA_DEFAULTS,
      r: num('r', LORA_DEFAULTS.r),
      alpha: num('lora_alpha', LORA_DEFAULTS.alpha),
      dropout: num('lora_dropout', LORA_DEFAULTS.dropout),
      rslora: Boolean(cfg.use_rslora ?? false),
      targets,
      seed: grpo.seed,
    });
    const opt = new AdamW(ctx, lora, {
      ...ADAMW_DEFAULTS,
      lr: num('learning_rate', 1e-5),
      beta1: num('adam_beta1', ADAMW_DEFAULTS.beta1),
      beta2: num('adam_beta2', ADAMW_DEFAULTS.beta2),
      eps: num('adam_epsilon', ADAMW_DEFAULTS.eps),
      weightDecay: num('weight_decay', 0),
      maxGradNorm: num('max_grad_norm', 1),
      schedule: str<LrSchedule>('lr_scheduler_type', 'cosine', ['constant', 'linear', 'cosine'] as const),
      warmupRatio: num('warmup_ratio', 0.03),
      totalSteps: steps,
    });
    trainer = new Trainer(ctx, model, tokenizer, eosIds, policy, lora, opt, grpo);
  }

  // A resumed run continues the log it was saved with.
  const log: Record<string, unknown>[] =
    a.resume && existsSync(join(resolve(a.resume), 'log.jsonl'))
      ? readFileSync(join(resolve(a.resume), 'log.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  const start = trainer.optimizer.step;
  for (let s = start; s < start + steps; s++) {
    const pick = Array.from({ length: batch }, (_, i) => (s * batch + i) % items.length);
    const t0 = performance.now();
    let line: Record<string, unknown>;
    if (a.sft) {
      const r = await trainer.sftStep(
        pick.map((i) => ({
          ...prompts[i],
          completion: [...tokenizer.encode(sftTarget(items[i])), eosIds[0]],
        })),
      );
      line = { step: s + 1, loss: r.loss, grad_norm: r.gradNorm, learning_rate: r.lr };
    } else {
      const r = await trainer.grpoStep(pick.map((i) => ({ ...prompts[i], solution: items[i].solution })));
      line = {
        step: r.step,
        loss: r.loss,
        reward: r.rewardMean,
        reward_std: r.rewardStd,
        accuracy: r.accuracy,
        format_rate: r.formatRate,
        kl: r.kl,
        clip_ratio: r.clipRatio,
        completion_length: r.completionLength,
        grad_norm: r.gradNorm,
        learning_rate: r.lr,
        ms: r.ms,
      };
    }
    line.step_ms = performance.now() - t0;
    log.push(line);
    // The folder is replaced whole on each save (one rename): the log travels with the checkpoint.
    const files = await encodeCheckpoint(trainer, { baseModel: a.model!, logHistory: log });
    files.set('log.jsonl', new TextEncoder().encode(log.map((l) => `${JSON.stringify(l)}\n`).join('')));
    files.set(
      RUN_FILE,
      new TextEncoder().encode(
        JSON.stringify({ per_device_train_batch_size: batch, frames: nFrames, sft: a.sft }),
      ),
    );
    saveCheckpoint(out, files);
    console.log(
      `step ${line.step}: loss ${(line.loss as number).toFixed(4)}${'reward' in line ? ` · reward ${(line.reward as number).toFixed(3)} · accuracy ${(line.accuracy as number).toFixed(2)} · kl ${(line.kl as number).toFixed(4)}` : ''} · ${((line.step_ms as number) / 1000).toFixed(1)} s`,
    );
  }
  console.log(`adapter and checkpoint in ${out}`);
  for (const t of visual.values()) ctx.release(t);
  model.destroy();
  closeNodeGpu(ctx);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`rl:train: ${(e as Error)?.message ?? e}`);
    process.exit(1);
  },
);
