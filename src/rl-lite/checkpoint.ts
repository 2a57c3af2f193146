/**
 * Training checkpoints that resume bit-exactly: the next step of a trainer rebuilt from one is the
 * step the uninterrupted run takes. Files, as a Map of bytes (OPFS in the page, a folder in the CLI):
 * - adapter_config.json, adapter_model.safetensors: the adapter in PEFT's layout (peft.ts);
 * - optimizer.safetensors: AdamW's moments as torch's optimizer state names them,
 *   `state.{i}.exp_avg` and `state.{i}.exp_avg_sq` for parameter i (the adapter's factors in pairs()
 *   order, A before B; their PEFT names in the metadata's `param_names`), and the step;
 * - trainer_state.json: TRL's file (global_step, max_steps, log_history), plus under `rl_lite` what
 *   this engine needs to rebuild the trainer: the GRPO, LoRA and optimizer configs, the rollout seed
 *   counter and the advantage-noise generator's state.
 */
import type { GpuContext } from '../gpu/context';
import type { TextConfig } from '../model/config';
import { SafetensorsCheckpoint } from '../model/safetensors';
import { encodeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import type { TinyLlavaVideo } from '../model/tinyllava';
import type { TextTokenizer } from '../model/tokenizer';
import { toFloat32 } from '../model/weight-convert';
import { readJson, type WeightSource } from '../model/weight-source';
import { GRPO_PAPER, type GrpoConfig, Trainer } from './grpo';
import { LORA_DEFAULTS, LoraAdapter, type LoraConfig, targetShape } from './lora';
import { AdamW, type OptimizerConfig, type OptimizerState } from './optimizer';
import {
  AdapterError,
  type AdapterFiles,
  adapterSource,
  encodePeftAdapter,
  type PeftAdapter,
  peftName,
  readPeftAdapter,
} from './peft';
import type { Policy } from './policy';

export const OPTIMIZER_STATE = 'optimizer.safetensors';
export const TRAINER_STATE = 'trainer_state.json';

/** trainer_state.json. */
export interface TrainerStateFile {
  global_step: number;
  max_steps: number;
  log_history: Record<string, unknown>[];
  rl_lite: {
    base_model: string;
    grpo: GrpoConfig;
    lora: LoraConfig;
    optimizer: OptimizerConfig;
    rollout_seed: number;
    noise_state: number;
  };
}

/** Every file of a checkpoint of this trainer after its last step. */
export async function encodeCheckpoint(
  trainer: Trainer,
  opts: { baseModel: string; logHistory?: Record<string, unknown>[] },
): Promise<Map<string, Uint8Array>> {
  const { lora, optimizer } = trainer;
  const files = await encodePeftAdapter(lora, opts.baseModel);
  const { step, moments } = await optimizer.state();
  const params = optimizerParams(lora.text, lora.config);
  const tensors: TensorToWrite[] = [];
  for (const [i, { m, v }] of moments.entries())
    tensors.push(
      { name: `state.${i}.exp_avg`, dtype: 'F32', shape: params[i].shape, data: m },
      { name: `state.${i}.exp_avg_sq`, dtype: 'F32', shape: params[i].shape, data: v },
    );
  files.set(
    OPTIMIZER_STATE,
    encodeSafetensors(tensors, {
      format: 'pt',
      step: String(step),
      param_names: JSON.stringify(params.map((p) => p.name)),
    }),
  );
  const { rolloutSeed, noiseState } = trainer.rngState;
  const state: TrainerStateFile = {
    global_step: step,
    max_steps: optimizer.config.totalSteps,
    log_history: opts.logHistory ?? [],
    rl_lite: {
      base_model: opts.baseModel,
      grpo: trainer.config,
      lora: lora.config,
      // JSON has no Infinity; 0 means no clipping too.
      optimizer: {
        ...optimizer.config,
        maxGradNorm: Number.isFinite(optimizer.config.maxGradNorm) ? optimizer.config.maxGradNorm : 0,
      },
      rollout_seed: rolloutSeed,
      noise_state: noiseState,
    },
  };
  files.set(TRAINER_STATE, new TextEncoder().encode(`${JSON.stringify(state, null, 2)}\n`));
  return files;
}

/** A checkpoint read and checked on the host (nothing on the GPU yet). */
export interface CheckpointContents {
  state: TrainerStateFile;
  adapter: PeftAdapter;
  optimizer: OptimizerState;
}

export async function readCheckpoint(
  text: TextConfig,
  files: AdapterFiles,
  label = 'the checkpoint',
): Promise<CheckpointContents> {
  const src = adapterSource(files, label);
  if (!(await src.has(TRAINER_STATE)))
    throw new AdapterError(
      `no ${TRAINER_STATE} in ${src.label}: is this a training checkpoint folder?`,
      TRAINER_STATE,
    );
  const state = parseTrainerState(await readJson(src, TRAINER_STATE));
  const adapter = await readPeftAdapter(text, src);
  // The adapter's file must be the one the state describes (its targets' order fixes the optimizer's).
  const saved = state.rl_lite.lora;
  const { r, alpha, dropout, rslora, targets } = adapter.config;
  if (
    saved.r !== r ||
    saved.alpha !== alpha ||
    saved.dropout !== dropout ||
    saved.rslora !== rslora ||
    [...saved.targets].sort().join() !== [...targets].sort().join()
  )
    throw new AdapterError(
      `${TRAINER_STATE}'s rl_lite.lora (r ${saved.r}, alpha ${saved.alpha}, dropout ${saved.dropout}, rslora ${saved.rslora}, ${saved.targets}) does not match the adapter's files (r ${r}, alpha ${alpha}, dropout ${dropout}, rslora ${rslora}, ${targets})`,
      TRAINER_STATE,
      'rl_lite.lora',
    );
  adapter.config = { ...saved };
  return { state, adapter, optimizer: await readOptimizer(src, text, adapter, state.global_step) };
}

/** What a trainer needs besides its checkpoint. */
export interface TrainerDeps {
  ctx: GpuContext;
  model: TinyLlavaVideo;
  tokenizer: TextTokenizer;
  eosIds: number[];
  policy: Policy;
}

/** A trainer rebuilt from a checkpoint: its next step is the uninterrupted run's next step. */
export async function resumeTrainer(
  deps: TrainerDeps,
  files: AdapterFiles,
  label?: string,
): Promise<Trainer> {
  const { ctx, model, tokenizer, eosIds, policy } = deps;
  const { state, adapter, optimizer } = await readCheckpoint(model.config.text, files, label);
  const s = state.rl_lite;
  const lora = new LoraAdapter(
    ctx,
    model.config.text,
    adapter.config,
    (l, t) => adapter.factors.get(`${l}.${t}`)!,
  );
  const opt = new AdamW(ctx, lora, s.optimizer);
  opt.load(optimizer);
  const trainer = new Trainer(ctx, model, tokenizer, eosIds, policy, lora, opt, s.grpo);
  trainer.rngState = { rolloutSeed: s.rollout_seed, noiseState: s.noise_state };
  return trainer;
}

/** The optimizer's parameters in its order (pairs() order, A before B): PEFT names and shapes. */
function optimizerParams(text: TextConfig, c: LoraConfig): { name: string; shape: number[] }[] {
  return Array.from({ length: text.layers }, (_, l) =>
    c.targets.flatMap((t) => {
      const [out, inn] = targetShape(text, t);
      return [
        { name: peftName(l, t, 'A'), shape: [c.r, inn] },
        { name: peftName(l, t, 'B'), shape: [out, c.r] },
      ];
    }),
  ).flat();
}

async function readOptimizer(
  src: WeightSource,
  text: TextConfig,
  adapter: PeftAdapter,
  step: number,
): Promise<OptimizerState> {
  const bad = (why: string, key?: string) =>
    new AdapterError(`${OPTIMIZER_STATE}: ${why}`, OPTIMIZER_STATE, key);
  if (!(await src.has(OPTIMIZER_STATE))) throw bad(`missing from ${src.label}`);
  const st = await SafetensorsCheckpoint.openFiles(src, [OPTIMIZER_STATE]);
  const meta = st.shards[0].metadata;
  if (Number(meta.step) !== step)
    throw bad(`step ${meta.step}, but ${TRAINER_STATE}'s global_step is ${step}`, 'step');
  const params = optimizerParams(text, adapter.config);
  let names: unknown;
  try {
    names = JSON.parse(meta.param_names ?? 'null');
  } catch {
    names = null;
  }
  if (JSON.stringify(names) !== JSON.stringify(params.map((p) => p.name)))
    throw bad(
      "param_names in the metadata do not list the adapter's factors in the optimizer's order",
      'param_names',
    );
  if (st.tensors.size !== 2 * params.length)
    throw bad(
      `${st.tensors.size} tensors, expected exp_avg and exp_avg_sq for each of ${params.length} parameters`,
    );
  const moments = [];
  for (const [i, p] of params.entries()) {
    const [m, v] = await Promise.all(
      ['exp_avg', 'exp_avg_sq'].map(async (k) => {
        const name = `state.${i}.${k}`;
        if (!st.has(name)) throw bad(`no ${name} (the moment of ${p.name})`, name);
        const e = st.entry(name);
        if (e.dtype !== 'F32') throw bad(`${name} is ${e.dtype}; moments are saved in F32`, name);
        if (e.shape.join() !== p.shape.join())
          throw bad(`${name} has shape [${e.shape}], ${p.name} has [${p.shape}]`, name);
        return toFloat32(await st.load(name));
      }),
    );
    moments.push({ m, v });
  }
  return { step, moments };
}

const OPTIMIZER_KEYS: (keyof OptimizerConfig)[] = [
  'lr',
  'beta1',
  'beta2',
  'eps',
  'weightDecay',
  'maxGradNorm',
  'schedule',
  'warmupRatio',
  'totalSteps',
];

/** trainer_state.json, with every key this engine reads present and typed. */
function parseTrainerState(raw: unknown): TrainerStateFile {
  const bad = (key: string, why: string) =>
    new AdapterError(`${TRAINER_STATE}: ${key} ${why}`, TRAINER_STATE, key);
  const obj = (v: unknown, key: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(key, 'is not an object');
    return v as Record<string, unknown>;
  };
  const s = obj(raw, '(the file)');
  const int = (v: unknown, key: string) => {
    if (!(Number.isSafeInteger(v) && (v as number) >= 0))
      throw bad(key, `is ${JSON.stringify(v)}; expected a non-negative integer`);
    return v as number;
  };
  int(s.global_step, 'global_step');
  const rl = obj(s.rl_lite, 'rl_lite');
  int(rl.rollout_seed, 'rl_lite.rollout_seed');
  int(rl.noise_state, 'rl_lite.noise_state');
  if (typeof rl.base_model !== 'string') throw bad('rl_lite.base_model', 'is not a string');
  const needs: [string, string[]][] = [
    ['grpo', Object.keys(GRPO_PAPER)],
    ['lora', Object.keys(LORA_DEFAULTS)],
    ['optimizer', OPTIMIZER_KEYS],
  ];
  for (const [part, keys] of needs) {
    const o = obj(rl[part], `rl_lite.${part}`);
    for (const k of keys) if (!(k in o)) throw bad(`rl_lite.${part}.${k}`, 'is missing');
  }
  return raw as TrainerStateFile;
}
