/**
 * The engine's fine-tune commands: GRPO or cold-start SFT of a LoRA adapter on the loaded model
 * (src/rl-lite), run in the worker step by step with an event per step; pause / resume / stop; the
 * run (dataset, settings, checkpoint) kept in OPFS so a reload resumes it; saved adapters (OPFS, PEFT
 * files in and out) and which one the ask flow uses. Implemented by src/worker/train-service.ts.
 */

/** One training or evaluation item: the paper's JSONL fields plus the clip itself. */
export interface TrainItem {
  problem: string;
  /** `<answer>X</answer>`. */
  solution: string;
  problem_id: number | string;
  video_filename: string;
  /** Reasoning of the SFT target (inside <think>), when known. */
  think?: string;
  video: Blob;
}

/**
 * The run's settings, under TRL's names where it has one (GRPOTrainer / PEFT's LoraConfig), plus
 * the run's own: steps, checkpoint_every, frames.
 */
export interface TrainSettings {
  mode: 'grpo' | 'sft';
  steps: number;
  /** Prompts per step. */
  per_device_train_batch_size: number;
  num_generations: number;
  max_completion_length: number;
  temperature: number;
  beta: number;
  learning_rate: number;
  r: number;
  lora_alpha: number;
  /** PEFT's lora_dropout: the adapter's input dropped on training passes (0: none). */
  lora_dropout: number;
  loss_type: 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
  scale_rewards: 'group' | 'batch' | 'none';
  seed: number;
  /** Save a checkpoint to OPFS every this many steps (and always on pause). */
  checkpoint_every: number;
  /** Frames sampled per clip for the vision tower. */
  frames: number;
  /** Evaluate the held-out split before the first step and every this many steps (0: never). */
  eval_every: number;
}

/** One sampled completion of the latest step, scored. */
export interface TrainCompletion {
  problemId: number | string;
  text: string;
  think: string;
  answer: string;
  reward: number;
  accuracy: number;
  format: number;
  advantage: number;
}

/** The metrics of one step (SFT steps leave the GRPO-only ones at 0 and completions empty). */
export interface TrainStepMetrics {
  step: number;
  loss: number;
  reward: number;
  rewardStd: number;
  accuracy: number;
  formatRate: number;
  kl: number;
  completionLength: number;
  gradNorm: number;
  lr: number;
  /** Wall time of the whole step, and its parts (GRPO). */
  stepMs: number;
  ms: { rollout: number; reward: number; backward: number; optimizer: number };
}

export type TrainState = 'idle' | 'preparing' | 'running' | 'paused' | 'stopped' | 'done' | 'error';

/** Streamed while a run lives. */
export type TrainEvent =
  | { type: 'state'; state: TrainState; step: number; totalSteps: number; message?: string }
  /** Visual tokens of the clips, computed once per clip before the first step. */
  | { type: 'prepare'; done: number; total: number }
  | { type: 'step'; metrics: TrainStepMetrics; completions: TrainCompletion[] }
  | { type: 'checkpoint'; step: number }
  /** Greedy answers on the held-out split: the base before step 1 (step 0), then the adapter. */
  | { type: 'eval'; step: number; result: EvalResult };

/** One held-out evaluation of a run, for the chart. */
export interface EvalPoint {
  step: number;
  accuracy: number;
  formatRate: number;
}

/** A run kept in OPFS (its dataset and last checkpoint): what a reload offers to resume. */
export interface SavedRun {
  /** The step of its last checkpoint (0: none yet). */
  step: number;
  totalSteps: number;
  settings: TrainSettings;
  /** The model it trains (the model's label as loaded). */
  baseModel: string;
  items: number;
  /** Every step's metrics so far (the charts' history). */
  log: TrainStepMetrics[];
  /** Its held-out evaluations so far. */
  evals: EvalPoint[];
  savedAt: string;
}

export interface TrainRunResult {
  state: TrainState;
  step: number;
}

/** An adapter kept in OPFS. */
export interface AdapterInfo {
  id: string;
  name: string;
  baseModel: string;
  r: number;
  alpha: number;
  targets: string[];
  /** Settings of the run that trained it, when it was trained here. */
  settings?: TrainSettings;
  step?: number;
  savedAt: string;
  bytes: number;
}

/** A file by name, as the PEFT layout names them. */
export interface NamedFile {
  name: string;
  data: Uint8Array;
}

export interface EvalAnswer {
  problemId: number | string;
  /** The whole completion, decoded without special tokens. */
  completion: string;
  question: string;
  solution: string;
  think: string;
  answer: string;
  accuracy: number;
  format: number;
}

export interface EvalResult {
  /** 'base', 'training' (the run's current adapter) or a saved adapter's id. */
  adapter: string;
  accuracy: number;
  formatRate: number;
  answers: EvalAnswer[];
  ms: number;
}

/** What a step will cost, before starting. */
export interface TrainEstimate {
  /** GPU bytes the run adds: the policy's copy of the projections, the adapter, its gradients and moments, the activations of one layer. */
  gpuBytes: number;
  /** Step time: its FLOPs over a matmul rate and its kernel launches at a launch cost, both measured now. */
  stepMs: number;
  flopsPerStep: number;
  adapterParameters: number;
}

/** A moving-squares set made in the worker (src/rl-lite/tasks/moving-squares.ts, H.264 by WebCodecs). */
export interface SquaresRequest {
  count: number;
  seed: number;
  /** Colours the squares may have (default all four). */
  colours?: string[];
}

export interface TrainCommands {
  /** Renders and encodes `count` clips with their question and answer (the rl:squares task). */
  trainSquares(
    request: SquaresRequest,
    onProgress?: (done: number, total: number) => void,
  ): Promise<TrainItem[]>;
  /** Parses the paper's JSONL (throws 'bad-request' naming the line); the clips are matched by the caller. */
  trainParseDataset(text: string, source: string): Promise<Omit<TrainItem, 'video'>[]>;
  /** The paper's JSONL of these items. */
  trainFormatDataset(items: Omit<TrainItem, 'video'>[]): Promise<string>;
  /**
   * Starts a run on the loaded model: keeps the dataset (and the held-out split) in OPFS, computes each clip's visual tokens,
   * then runs `settings.steps` steps. Resolves when the run pauses, stops, ends or fails; events
   * meanwhile. Rejects with 'busy' while another run lives, 'no-model' without a model.
   */
  trainStart(
    items: TrainItem[],
    settings: TrainSettings,
    onEvent?: (e: TrainEvent) => void,
    heldOut?: TrainItem[],
  ): Promise<TrainRunResult>;
  /** Pauses after the running step and saves a checkpoint. */
  trainPause(): Promise<void>;
  /** Continues a paused run, or the run saved in OPFS (after a reload); resolves as trainStart. */
  trainResume(onEvent?: (e: TrainEvent) => void): Promise<TrainRunResult>;
  /** Ends the run after the running step (its checkpoint stays until a new run or discard). */
  trainStop(): Promise<void>;
  /** The run saved in OPFS, or null. */
  trainSaved(): Promise<SavedRun | null>;
  /** The saved run's dataset with its clips (to show it again after a reload). */
  trainSavedItems(): Promise<{ item: TrainItem; heldOut: boolean }[]>;
  /** Forgets the saved run. */
  trainDiscard(): Promise<void>;
  /** The run's cost, estimated for the loaded model. */
  trainEstimate(settings: TrainSettings): Promise<TrainEstimate>;
  /** Greedy answers on these items with no adapter, the run's adapter or a saved one. */
  trainEvaluate(items: TrainItem[], adapter: string, maxNewTokens?: number): Promise<EvalResult>;

  /** Saves the run's current adapter under a name. */
  adapterSave(name: string): Promise<AdapterInfo>;
  adapterList(): Promise<AdapterInfo[]>;
  adapterRename(id: string, name: string): Promise<AdapterInfo>;
  adapterDelete(id: string): Promise<void>;
  /** adapter_config.json and adapter_model.safetensors. */
  adapterExport(id: string): Promise<NamedFile[]>;
  /** Checks PEFT files against the loaded model and keeps them under a name. */
  adapterImport(files: NamedFile[], name: string): Promise<AdapterInfo>;
  /** The adapter the ask flow answers with (merged into the model's weights); null: the base model. */
  adapterUse(id: string | null): Promise<void>;
  adapterActive(): Promise<string | null>;
}

/** The page's defaults: the paper's GRPO (β 0.01, group-scaled advantages) at a size a browser steps in seconds. */
export const DEFAULT_TRAIN_SETTINGS: TrainSettings = {
  mode: 'grpo',
  steps: 20,
  per_device_train_batch_size: 1,
  num_generations: 4,
  max_completion_length: 96,
  temperature: 1,
  beta: 0.01,
  learning_rate: 2e-4,
  r: 8,
  lora_alpha: 16,
  lora_dropout: 0,
  loss_type: 'grpo',
  scale_rewards: 'group',
  seed: 0,
  checkpoint_every: 1,
  frames: 16,
  eval_every: 5,
};

/** What is wrong with these settings (one line each); [] when they are usable. */
export function settingsProblems(s: TrainSettings): string[] {
  const out: string[] = [];
  const int = (k: keyof TrainSettings, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = s[k] as number;
    if (!(Number.isInteger(v) && v >= min && v <= max))
      out.push(`${k} must be a whole number from ${min} to ${max}`);
  };
  int('steps', 1, 100000);
  int('per_device_train_batch_size', 1, 64);
  int('num_generations', 2, 64);
  int('max_completion_length', 1, 4096);
  int('r', 1, 256);
  int('seed', 0, 2 ** 31);
  int('checkpoint_every', 1, 100000);
  int('frames', 1, 64);
  int('eval_every', 0, 100000);
  const pos = (k: keyof TrainSettings, min = 0) => {
    const v = s[k] as number;
    if (!(Number.isFinite(v) && v >= min)) out.push(`${k} must be a number ≥ ${min}`);
  };
  pos('temperature');
  pos('beta');
  pos('lora_alpha');
  if (!(Number.isFinite(s.lora_dropout) && s.lora_dropout >= 0 && s.lora_dropout < 1))
    out.push('lora_dropout must be a number from 0 to below 1');
  if (!(Number.isFinite(s.learning_rate) && s.learning_rate > 0)) out.push('learning_rate must be above 0');
  if (!['grpo', 'sft'].includes(s.mode)) out.push('mode must be grpo or sft');
  return out;
}
