/**
 * One question, start to end, in two halves: the visual tokens for this video (cached, run ahead, or
 * computed now by the model: preprocess → vision → connector) and the answer (prompt ids spliced
 * around them → generate), with an event per phase, token and reasoning step, and the stats at the
 * end. Each visual phase ends with a GPU sync so its time is the GPU's, not just the recording's.
 */

import type {
  AskDump,
  AskEvent,
  AskPhase,
  AskRequest,
  AskResult,
  AskStats,
  StageTimes,
} from '../engine-client/protocol';
import { EngineError } from '../engine-client/protocol';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { type GenerateResult, generate } from '../model/generate';
import { sliceRows } from '../model/layers';
import { buildPrompt, spliceLayout } from '../model/prompt';
import { parseReasoning } from '../model/reasoning-parser';
import { R1_DEMO_SAMPLING, resolveSampling, type SamplingOptions } from '../model/sampling';
import { requestError } from './model-errors';
import type { LoadedModel } from './model-load';
import type { VideoFrames } from './model-video';
import type { VisionJob } from './video-vision';

/**
 * The upstream demo's sampling (temperature 0.1, top-k 50 as HF's default) with a fixed seed, so the
 * same question on the same video gives the same answer; temperature 0 is greedy.
 */
export const DEFAULT_SAMPLING: SamplingOptions = { ...R1_DEMO_SAMPLING, seed: 0, maxNewTokens: 1024 };

/** Visual tokens of the last video, kept so a second question on it skips vision and connector. */
export interface VisualCache {
  modelId: number;
  videoKey: string | number;
  visual: Tensor;
  frames: number;
}

export interface AskContext {
  ctx: GpuContext;
  loaded: LoadedModel;
  video: VideoFrames | null;
  /** The video's vision, run ahead (streamed while decoding): waited for instead of recomputed. */
  visionAhead?: VisionJob | null;
  /** The cache slot (read and replaced here; only one ask runs at a time). */
  cache: { current: VisualCache | null };
  signal: AbortSignal;
  emit: (e: AskEvent) => void;
}

const now = () => performance.now();

export function resolveRequestSampling(req: AskRequest): SamplingOptions {
  const sampling = { ...DEFAULT_SAMPLING, ...req.sampling };
  try {
    resolveSampling(sampling);
  } catch (e) {
    throw requestError(e);
  }
  return sampling;
}

/** Thrown inside an ask when it is stopped before the language model starts. */
class Stopped extends Error {}

export async function runAsk(a: AskContext, req: AskRequest): Promise<AskResult> {
  const { loaded, emit } = a;
  const cfg = loaded.model.config;
  const t0 = now();
  const question = req.question?.trim() ?? '';
  if (!question) throw new EngineError('bad-request', 'The question is empty.', 'Type a question first.');
  const sampling = resolveRequestSampling(req);
  const options = req.options?.map((o) => o.trim()).filter(Boolean);
  let prompt: ReturnType<typeof buildPrompt>;
  try {
    prompt = buildPrompt(loaded.tokenizer, { question, options });
  } catch (e) {
    throw new EngineError('bad-request', (e as Error).message, 'Use at most 26 options.');
  }

  const kind = req.pixels ? 'pixels' : req.visual !== 'text' && a.video ? 'video' : 'none';
  if (req.pixels) checkPixels(req.pixels.shape, req.pixels.data.length, cfg.vision.imageSize);
  const frames = req.pixels ? req.pixels.shape[0] : kind === 'video' ? a.video!.frames.length : 0;
  // The plan may cap a prompt below the context (its prefill activations must fit one binding).
  const cut = Math.min(cfg.maxLength, loaded.maxPrompt ?? cfg.maxLength);
  const layout = spliceLayout(prompt, kind === 'none' ? 0 : cfg.connector.numQueries, cut);
  emit({
    type: 'start',
    visual: kind,
    frames,
    promptTokens: layout.length,
    truncated: layout.truncated,
    sampling,
  });

  const stages: StageTimes = {
    videoDecodeMs: kind === 'video' ? a.video!.decodeMs : null,
    preprocessMs: 0,
    visionMs: 0,
    connectorMs: 0,
    prefillMs: 0,
    decodeMs: 0,
  };
  const dump: AskDump | undefined = req.dump
    ? {
        promptIds: [layout.before, layout.after],
        visionFeatures: null,
        connectorOutput: null,
        logits: [],
        shapes: { visionFeatures: null, connectorOutput: null, logits: [] },
      }
    : undefined;

  let visual: Visual | null;
  try {
    visual = kind === 'none' ? null : await visualTokens(a, req, kind, stages, dump);
  } catch (e) {
    if (e instanceof Stopped) return cancelled(a, stages, t0, layout.length, dump);
    throw e;
  }
  try {
    const { result, ttftMs } = await answer(a, {
      layout,
      visual: visual?.tokens ?? null,
      sampling,
      options,
      stages,
      dump,
    });
    const sequence = result.sequences[0];
    const stats: AskStats = {
      timeToFirstTokenMs: ttftMs - t0,
      tokensPerSecond: result.stats.tokensPerSecond,
      promptTokens: result.stats.promptTokens,
      newTokens: result.stats.newTokens,
      visualTokens: visual ? layout.imageTokens : 0,
      visualCached: visual?.cached ?? false,
      stages,
      totalMs: now() - t0,
      stoppedBy: sequence.stoppedBy,
    };
    emit({ type: 'stats', stats });
    return { text: sequence.text, ids: sequence.ids, done: sequence.done, stats, dump };
  } finally {
    visual?.dispose();
  }
}

/** Visual tokens [numQueries, C] and who frees them (the cache keeps a video's; an ask frees its own). */
interface Visual {
  tokens: Tensor;
  cached: boolean;
  dispose(): void;
}

/**
 * The visual tokens of this question's video or pixels: from the cache (a second question on the same
 * video), from the vision that ran ahead, or computed now (preprocess → vision); then the connector.
 * Throws Stopped when the question is stopped meanwhile.
 */
async function visualTokens(
  a: AskContext,
  req: AskRequest,
  kind: 'video' | 'pixels',
  stages: StageTimes,
  dump: AskDump | undefined,
): Promise<Visual> {
  const { ctx, loaded, emit } = a;
  const { model } = loaded;
  const stopped = () => {
    if (a.signal.aborted) throw new Stopped();
  };
  const cached = a.cache.current;
  const reusable =
    cached !== null && kind === 'video' && cached.modelId === loaded.id && cached.videoKey === a.video!.key;
  // Tokens of another model, or of a video no longer loaded, are stale.
  if (cached && !reusable && (kind === 'video' || cached.modelId !== loaded.id)) {
    ctx.release(cached.visual);
    a.cache.current = null;
  }
  if (reusable && !req.dump && req.reuseVisual !== false) {
    for (const p of ['preprocess', 'vision', 'connector'] as const)
      emit({ type: 'phase', phase: p, state: 'end', ms: 0, cached: true });
    return { tokens: cached.visual, cached: true, dispose: () => {} };
  }

  type MsKey = 'preprocessMs' | 'visionMs' | 'connectorMs';
  const phase = async <T>(name: AskPhase, key: MsKey, run: () => Promise<T> | T): Promise<T> => {
    emit({ type: 'phase', phase: name, state: 'start' });
    const s = now();
    const out = await run();
    await ctx.sync();
    const ms = now() - s;
    stages[key] = ms;
    emit({ type: 'phase', phase: name, state: 'end', ms });
    return out;
  };

  // Features that ran ahead belong to the vision job (kept for later questions); computed ones are ours.
  const ahead = kind === 'video' && a.visionAhead ? await waitAhead(a, a.visionAhead, stages) : null;
  stopped();
  let features = ahead;
  if (!features) {
    const pixels = await phase('preprocess', 'preprocessMs', () =>
      req.pixels ? ctx.upload(req.pixels.data, req.pixels.shape, ctx.actDtype) : preprocessVideo(a),
    );
    try {
      stopped();
      features = await phase('vision', 'visionMs', () => model.visionFeatures(pixels));
    } finally {
      ctx.release(pixels);
    }
  }
  let tokens: Tensor;
  try {
    if (dump) {
      dump.visionFeatures = await ctx.read(features);
      dump.shapes.visionFeatures = [...features.shape];
    }
    stopped();
    const f = features;
    tokens = await phase('connector', 'connectorMs', () => model.connector(f));
  } finally {
    if (features !== ahead) ctx.release(features);
  }
  if (dump) {
    dump.connectorOutput = await ctx.read(tokens);
    dump.shapes.connectorOutput = [...tokens.shape];
  }
  if (kind === 'pixels') {
    const own = tokens;
    if (a.signal.aborted) ctx.release(own);
    stopped();
    return { tokens: own, cached: false, dispose: () => ctx.release(own) };
  }
  if (a.cache.current) ctx.release(a.cache.current.visual);
  a.cache.current = {
    modelId: loaded.id,
    videoKey: a.video!.key,
    visual: tokens,
    frames: a.video!.frames.length,
  };
  stopped();
  return { tokens, cached: false, dispose: () => {} };
}

/** The answer: prompt ids spliced around the visual tokens → generate, streamed as events. */
async function answer(
  a: AskContext,
  q: {
    layout: ReturnType<typeof spliceLayout>;
    visual: Tensor | null;
    sampling: SamplingOptions;
    options: string[] | undefined;
    stages: StageTimes;
    dump: AskDump | undefined;
  },
): Promise<{ result: GenerateResult; ttftMs: number }> {
  const { ctx, loaded, emit } = a;
  const { layout, stages, dump } = q;
  // The length cut may drop visual tokens (only with a tiny maxLength).
  const spliced =
    q.visual && layout.imageTokens < q.visual.shape[0]
      ? sliceRows(ctx, q.visual, 0, layout.imageTokens)
      : q.visual;
  emit({ type: 'phase', phase: 'prefill', state: 'start' });
  const start = now();
  let ttftMs = 0;
  const prefilled = (ms: number) => {
    ttftMs = start + ms;
    stages.prefillMs = ms;
    emit({ type: 'phase', phase: 'prefill', state: 'end', ms });
    emit({ type: 'phase', phase: 'decode', state: 'start' });
  };
  let index = 0;
  let result: GenerateResult;
  try {
    result = await generate(
      loaded.model,
      loaded.tokenizer,
      {
        before: layout.before,
        after: layout.after,
        visual: spliced,
        sampling: q.sampling,
        eosIds: loaded.eosIds,
        parser: { options: q.options },
        signal: a.signal,
        keepLogits: Boolean(dump),
      },
      {
        onPrefilled: prefilled,
        onToken: (id, text) => emit({ type: 'token', index: index++, id, text }),
        onReasoning: (event) => emit({ type: 'reasoning', event }),
      },
    );
  } finally {
    if (spliced && spliced !== q.visual) ctx.release(spliced);
  }
  if (!ttftMs) prefilled(now() - start); // nothing was sampled (no new tokens asked for)
  stages.decodeMs = result.stats.decodeMs;
  emit({ type: 'phase', phase: 'decode', state: 'end', ms: stages.decodeMs });
  if (dump) {
    dump.logits = result.logits;
    dump.shapes.logits = [result.logits.length, loaded.model.config.text.vocab];
  }
  return { result, ttftMs };
}

/**
 * Waits for the vision job that ran ahead; null when it was cancelled or failed (the question then
 * computes the features itself) or when the question is stopped meanwhile.
 */
async function waitAhead(a: AskContext, job: VisionJob, stages: StageTimes): Promise<Tensor | null> {
  a.emit({ type: 'phase', phase: 'preprocess', state: 'end', ms: 0, ahead: true });
  a.emit({ type: 'phase', phase: 'vision', state: 'start', ahead: true });
  const s = now();
  const stopped = new Promise<null>((resolve) => {
    if (a.signal.aborted) resolve(null);
    a.signal.addEventListener('abort', () => resolve(null), { once: true });
  });
  const features = await Promise.race([job.ready.catch(() => null), stopped]);
  // Checked after the await: a job cancelled meanwhile has freed (or will free) its features.
  if (!features || job.isCancelled) {
    a.emit({ type: 'phase', phase: 'vision', state: 'end', ms: now() - s, ahead: true });
    return null;
  }
  const waitMs = now() - s;
  stages.visionMs = waitMs;
  stages.visionAhead = { ...job.times, waitMs };
  a.emit({ type: 'phase', phase: 'vision', state: 'end', ms: waitMs, ahead: true });
  return features;
}

/** The video's frames → pixels; clones keep them open should the video be replaced meanwhile. */
async function preprocessVideo(a: AskContext): Promise<Tensor> {
  const video = a.video!;
  const own = video.frames.map((f) => ('clone' in f ? f.clone() : f));
  try {
    return await a.loaded.model.preprocessFrames(own);
  } finally {
    own.forEach((f, i) => {
      if (f !== video.frames[i]) (f as VideoFrame).close();
    });
  }
}

function checkPixels(shape: readonly number[], n: number, S: number): void {
  const [F, C, H, W] = shape;
  if (shape.length !== 4 || C !== 3 || H !== S || W !== S || !(F > 0))
    throw new EngineError(
      'bad-request',
      `pixels of shape [${shape.join(', ')}]: the model takes [F, 3, ${S}, ${S}]`,
      `Preprocess the frames to ${S}×${S}.`,
    );
  if (n !== F * C * H * W)
    throw new EngineError(
      'bad-request',
      `pixels: ${n} values for shape [${shape.join(', ')}] (${F * C * H * W} expected)`,
      'Check the frames file and --frames-shape.',
    );
}

/** Stopped before the language model started: no tokens, the stats so far. */
function cancelled(
  a: AskContext,
  stages: StageTimes,
  t0: number,
  promptTokens: number,
  dump: AskDump | undefined,
): AskResult {
  const done = parseReasoning('');
  a.emit({ type: 'reasoning', event: done });
  const stats: AskStats = {
    timeToFirstTokenMs: 0,
    tokensPerSecond: 0,
    promptTokens,
    newTokens: 0,
    visualTokens: 0,
    visualCached: false,
    stages,
    totalMs: now() - t0,
    stoppedBy: 'cancel',
  };
  a.emit({ type: 'stats', stats });
  return { text: '', ids: [], done, stats, dump };
}
