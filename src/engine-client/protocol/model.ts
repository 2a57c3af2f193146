/**
 * The model commands of the engine: load a TinyLLaVA-Video checkpoint onto the GPU and ask it about
 * the loaded video, streaming phases, tokens and reasoning events. Plain data only (it crosses the
 * worker boundary); implemented by src/worker/model-service.ts and joined into `Engine` in protocol.ts.
 */
import type { CachedModel, CacheVerification } from '../../model/model-cache';
import type { DoneEvent, ReasoningEvent } from '../../model/reasoning-parser';
import type { SamplingOptions } from '../../model/sampling';
import type { DownloadProgress } from '../../model/sources/progress';

export type { CachedModel, CacheVerification } from '../../model/model-cache';
export type { DoneEvent, ReasoningEvent } from '../../model/reasoning-parser';
export type { SamplingOptions } from '../../model/sampling';
export type { DownloadProgress } from '../../model/sources/progress';

/**
 * Where a checkpoint comes from: a base URL (self-hosted, a CDN, the app's /models/…), picked files,
 * or a hub repo (`repo` as `ns/name`; revision default `main`; endpoint default https://huggingface.co),
 * read from `{endpoint}/{repo}/resolve/{revision}/`. `resolveModel` (model/sources/resolve.ts) turns
 * what a user typed into one of these.
 */
export type ModelSource =
  | { kind: 'url'; baseUrl: string }
  | { kind: 'files'; files: File[] }
  | { kind: 'hub'; repo: string; revision?: string; endpoint?: string };

export interface ModelLoadProgress {
  /**
   * open: config, headers and manifest check; tokenizer; upload: weights to the GPU; cache: the
   * download converted into the offline copy (OPFS) before the upload reads it.
   */
  phase: 'open' | 'tokenizer' | 'upload' | 'cache';
  loadedBytes: number;
  totalBytes: number;
  /** The tensor just uploaded (upload phase). */
  tensor?: string;
  /**
   * Over HTTP (URL and hub sources), while the weights download: bytes per file and overall, speed,
   * time left, retries. Sent as bytes arrive, between the per-tensor events.
   */
  download?: DownloadProgress;
}

/**
 * How the language model's and connector's Linear weights sit on the GPU: 'q4' (4-bit groups,
 * ENGINE_Q4), 'full' (the activation dtype), or 'auto': q4 when those weights exceed
 * AUTO_Q4_PARAMS parameters (the real 3B model), full for the small fixtures.
 */
export type WeightFormat = 'auto' | 'q4' | 'full';

export interface LoadModelOptions {
  weights?: WeightFormat;
  /**
   * Hold the plan to these limits instead of the device's (lower only: tests, or a user who knows the
   * GPU's real budget), and to this many bytes of GPU memory (WebGPU does not tell; absent: unchecked).
   */
  limits?: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  gpuMemoryBudget?: number;
}

/** How the model was fitted to the adapter (src/model/plan.ts). */
export interface ModelFit {
  /** Context (prompt + answer) the KV cache holds, and frames per vision-tower pass. */
  maxLength: number;
  /** The longest prompt one prefill takes (longer ones are cut). */
  maxPrompt: number;
  framesPerPass: number;
  /** Vocabulary tables split into row parts to fit one binding. */
  tables: { name: string; parts: number }[];
  /** Estimated GPU bytes (weights, KV cache, activations, vision). */
  estimatedBytes: number;
  /** What was reduced and why, for the user. */
  notes: string[];
}

/** What the model panel shows about the loaded checkpoint. */
export interface ModelInfo {
  /** Short display name (the folder or the URL's last segment). */
  name: string;
  /** Where it came from (URL or "picked files"). */
  source: string;
  modelType: string;
  /** Activation / weight dtype on the GPU. */
  dtype: 'f16' | 'f32';
  /** The language model's and connector's Linear weights are 4-bit. */
  quantized: boolean;
  /** Parameters of the tensors loaded (the checkpoint's own count, before any conversion). */
  parameters: number;
  /** Weights plus KV cache on the GPU. */
  bytesOnGpu: number;
  loadMs: number;
  config: {
    llm: string;
    vision: { imageSize: number; patchSize: number; hidden: number; layers: number; tokensPerFrame: number };
    connector: { type: string; group: number; numQueries: number; layers: number };
    text: { hidden: number; layers: number; heads: number; kvHeads: number; vocab: number };
    /** Spliced input is cut to this many positions. */
    maxLength: number;
  };
  eosTokenIds: number[];
  /** Loaded from its offline copy ('read', no network) or just downloaded into one ('written'). */
  cached?: 'read' | 'written';
  fit?: ModelFit;
}

/** Frames already preprocessed to the model's input ([F, 3, S, S], normalised): infer --frames, tests. */
export interface PixelInput {
  data: Float32Array;
  shape: [number, number, number, number];
}

export interface AskRequest {
  question: string;
  /** Option texts, labelled A, B, … in the prompt. */
  options?: string[];
  /** Merged over DEFAULT_SAMPLING (temperature 0.1, top-k 50, seed 0, 1024 new tokens). */
  sampling?: Partial<SamplingOptions>;
  /**
   * 'video' (default): the loaded video's frames, or text only when none is loaded;
   * 'text': ignore any video. `pixels` overrides both.
   */
  visual?: 'video' | 'text';
  pixels?: PixelInput;
  /** Return the intermediate tensors (vision features, connector output, every logits row). */
  dump?: boolean;
  /** Reuse the visual tokens of the previous question on the same video (default true). */
  reuseVisual?: boolean;
}

export type AskPhase = 'preprocess' | 'vision' | 'connector' | 'prefill' | 'decode';

export interface StageTimes {
  /** Decoding and sampling the video's frames (the video service's time; null when not from a video). */
  videoDecodeMs: number | null;
  preprocessMs: number;
  visionMs: number;
  connectorMs: number;
  /** Prefill plus the first sampled token. */
  prefillMs: number;
  decodeMs: number;
  /**
   * Set when preprocessing and vision ran ahead of the question (while the video decoded, or after
   * the model loaded): then preprocessMs is 0 and visionMs is only what the question waited for
   * (waitMs); preprocessMs / visionMs here are that work's own times, off the question's path.
   */
  visionAhead?: { frames: number; preprocessMs: number; visionMs: number; waitMs: number };
}

export interface AskStats {
  /**
   * From the start of ask to the first sampled token: preprocess + vision (or, with vision ahead,
   * the wait for it) + connector + prefill.
   */
  timeToFirstTokenMs: number;
  /** Decode speed over tokens after the first. */
  tokensPerSecond: number;
  promptTokens: number;
  newTokens: number;
  /** Visual tokens spliced into the prompt (0: text only). */
  visualTokens: number;
  /** The visual tokens were reused from the previous question on the same video. */
  visualCached: boolean;
  stages: StageTimes;
  totalMs: number;
  stoppedBy: 'eos' | 'length' | 'cancel';
}

/** Streamed while ask runs, in order. */
export type AskEvent =
  | {
      type: 'start';
      /** Where the visual tokens come from. */
      visual: 'video' | 'pixels' | 'none';
      frames: number;
      promptTokens: number;
      /** Positions cut from the end to fit the model's maximum length. */
      truncated: number;
      sampling: SamplingOptions;
    }
  | {
      type: 'phase';
      phase: AskPhase;
      state: 'start' | 'end';
      ms?: number;
      cached?: boolean;
      /** preprocess / vision ran ahead of the question (ms: what the question still waited). */
      ahead?: boolean;
    }
  | { type: 'token'; index: number; id: number; text: string }
  | { type: 'reasoning'; event: ReasoningEvent }
  | { type: 'stats'; stats: AskStats };

export interface AskDump {
  /** Text ids before and after the visual tokens, as spliced. */
  promptIds: [number[], number[]];
  visionFeatures: Float32Array | null;
  connectorOutput: Float32Array | null;
  /** One full-vocabulary row per sampled position: the last prompt position, then each decode step. */
  logits: Float32Array[];
  shapes: { visionFeatures: number[] | null; connectorOutput: number[] | null; logits: number[] };
}

export interface AskResult {
  text: string;
  ids: number[];
  done: DoneEvent;
  stats: AskStats;
  dump?: AskDump;
}

export interface ModelCommands {
  /**
   * Opens and validates the checkpoint fully (config, every shard's header, the manifest), reads its
   * tokenizer, uploads the weights; only then replaces the loaded model. On failure the previous
   * model stays loaded. A second load cancels one in flight.
   */
  loadModel(
    source: ModelSource,
    onProgress?: (p: ModelLoadProgress) => void,
    options?: LoadModelOptions,
  ): Promise<ModelInfo>;
  /** The loaded model, or null. */
  modelInfo(): Promise<ModelInfo | null>;
  /**
   * Answers a question about the loaded video (text only when none), streaming AskEvents.
   * Rejects with 'busy' while another question runs, 'no-model' before a model is loaded.
   */
  ask(request: AskRequest, onEvent?: (e: AskEvent) => void): Promise<AskResult>;
  /** Stops the running question at the next token (its ask resolves with stoppedBy 'cancel'). */
  stop(): Promise<void>;
  /** The models kept offline (OPFS), newest first; [] where the browser has no OPFS. */
  cachedModels(): Promise<CachedModel[]>;
  /** Deletes every offline revision of a model id (a repo id or URL); returns how many. */
  deleteCachedModel(id: string): Promise<number>;
  /**
   * Re-hashes one cached model (its `folder` from cachedModels) against its manifest; a corrupt file
   * is named, nothing is removed. Progress in bytes hashed.
   */
  verifyCachedModel(
    folder: string,
    onProgress?: (doneBytes: number, totalBytes: number) => void,
  ): Promise<CacheVerification>;
}
