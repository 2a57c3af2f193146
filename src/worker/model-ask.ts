/**
 * One question, start to end: frames → [F, 3, S, S] (framesToTensor, or pixels given as-is) → vision
 * tower → connector → prompt (qwen2_base, ids spliced around the visual tokens) → generate, with an
 * event per phase, token and reasoning step, and the stats at the end. Each phase ends with a GPU
 * sync so its time is the GPU's, not just the recording's.
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
import { framesToTensor } from '../gpu/frames-to-tensor';
import type { Tensor } from '../gpu/tensor';
import { generate } from '../model/generate';
import { sliceRows } from '../model/layers';
import { buildPrompt, spliceLayout } from '../model/prompt';
import { type DoneEvent, parseReasoning } from '../model/reasoning-parser';
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

export async function runAsk(a: AskContext, req: AskRequest): Promise<AskResult> {
  const { ctx, loaded, signal, emit } = a;
  const { model, tokenizer } = loaded;
  const cfg = model.config;
  const t0 = now();
  const question = req.question?.trim() ?? '';
  if (!question) throw new EngineError('bad-request', 'The question is empty.', 'Type a question first.');
  const sampling = resolveRequestSampling(req);
  const options = req.options?.map((o) => o.trim()).filter(Boolean);
  let prompt: ReturnType<typeof buildPrompt>;
  try {
    prompt = buildPrompt(tokenizer, { question, options });
  } catch (e) {
    throw new EngineError('bad-request', (e as Error).message, 'Use at most 26 options.');
  }

  const kind = req.pixels ? 'pixels' : req.visual !== 'text' && a.video ? 'video' : 'none';
  if (req.pixels) checkPixels(req.pixels.shape, req.pixels.data.length, cfg.vision.imageSize);
  const frames = req.pixels ? req.pixels.shape[0] : kind === 'video' ? a.video!.frames.length : 0;
  const layout = spliceLayout(prompt, kind === 'none' ? 0 : cfg.connector.numQueries, cfg.maxLength);
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

  // ---- visual tokens ------------------------------------------------------------------------
  let visual: Tensor | null = null;
  let owned = false; // visual is ours to release (not held by the cache)
  let visualCached = false;
  const cached = a.cache.current;
  const reusable =
    cached !== null && kind === 'video' && cached.modelId === loaded.id && cached.videoKey === a.video!.key;
  // Tokens of another model, or of a video no longer loaded, are stale.
  if (cached && !reusable && (kind === 'video' || cached.modelId !== loaded.id)) {
    ctx.release(cached.visual);
    a.cache.current = null;
  }
  if (reusable && !req.dump && req.reuseVisual !== false) {
    visual = cached.visual;
    visualCached = true;
    for (const p of ['preprocess', 'vision', 'connector'] as const)
      emit({ type: 'phase', phase: p, state: 'end', ms: 0, cached: true });
  } else if (kind !== 'none') {
    // Features computed ahead belong to the vision job (kept for later questions); ours otherwise.
    let features = kind === 'video' && a.visionAhead ? await waitAhead(a, a.visionAhead, stages) : null;
    const ownFeatures = features === null;
    if (signal.aborted) return cancelled(a, stages, t0, layout.length, dump);
    if (!features) {
      const pixels = await phase('preprocess', 'preprocessMs', () =>
        req.pixels
          ? ctx.upload(req.pixels.data, req.pixels.shape, ctx.actDtype)
          : preprocessVideo(ctx, a.video!, cfg.vision.imageSize),
      );
      if (signal.aborted) {
        ctx.release(pixels);
        return cancelled(a, stages, t0, layout.length, dump);
      }
      features = await phase('vision', 'visionMs', () => {
        const f = model.visionFeatures(pixels);
        ctx.release(pixels);
        return f;
      });
    }
    if (dump) {
      dump.visionFeatures = await ctx.read(features);
      dump.shapes.visionFeatures = [...features.shape];
    }
    if (signal.aborted) {
      if (ownFeatures) ctx.release(features);
      return cancelled(a, stages, t0, layout.length, dump);
    }
    const feats = features;
    visual = await phase('connector', 'connectorMs', () => {
      const v = model.connector(feats);
      if (ownFeatures) ctx.release(feats);
      return v;
    });
    if (dump) {
      dump.connectorOutput = await ctx.read(visual);
      dump.shapes.connectorOutput = [...visual.shape];
    }
    if (kind === 'video') {
      if (a.cache.current) ctx.release(a.cache.current.visual);
      a.cache.current = { modelId: loaded.id, videoKey: a.video!.key, visual, frames };
    } else owned = true;
    if (signal.aborted) {
      if (owned) ctx.release(visual);
      return cancelled(a, stages, t0, layout.length, dump);
    }
  }
  // The length cut may drop visual tokens (only with a tiny maxLength).
  let spliced = visual;
  if (visual && layout.imageTokens < visual.shape[0]) spliced = sliceRows(ctx, visual, 0, layout.imageTokens);

  // ---- language model ---------------------------------------------------------------------------
  emit({ type: 'phase', phase: 'prefill', state: 'start' });
  const genStart = now();
  let firstTokenAt = 0;
  const endPrefill = () => {
    if (firstTokenAt) return;
    firstTokenAt = now();
    stages.prefillMs = firstTokenAt - genStart;
    emit({ type: 'phase', phase: 'prefill', state: 'end', ms: stages.prefillMs });
    emit({ type: 'phase', phase: 'decode', state: 'start' });
  };
  let index = 0;
  let result: Awaited<ReturnType<typeof generate>>;
  try {
    result = await generate(
      model,
      tokenizer,
      {
        before: layout.before,
        after: layout.after,
        visual: spliced,
        sampling,
        eosIds: loaded.eosIds,
        signal,
        keepLogits: Boolean(dump),
      },
      {
        onToken: (id, text) => {
          endPrefill();
          emit({ type: 'token', index: index++, id, text });
        },
        // generate's parser knows nothing of the options: its done event is replaced below.
        onReasoning: (e) => {
          if (e.type !== 'done') emit({ type: 'reasoning', event: e });
        },
      },
    );
  } finally {
    if (spliced && spliced !== visual) ctx.release(spliced);
    if (owned && visual) ctx.release(visual);
  }
  endPrefill();
  const end = now();
  stages.decodeMs = end - firstTokenAt;
  emit({ type: 'phase', phase: 'decode', state: 'end', ms: stages.decodeMs });
  const done: DoneEvent = parseReasoning(result.text, { options });
  emit({ type: 'reasoning', event: done });

  const stats: AskStats = {
    timeToFirstTokenMs: firstTokenAt - t0,
    tokensPerSecond: result.stats.tokensPerSecond,
    promptTokens: result.stats.promptTokens,
    newTokens: result.stats.newTokens,
    visualTokens: spliced ? layout.imageTokens : 0,
    visualCached,
    stages,
    totalMs: end - t0,
    stoppedBy: result.stoppedBy,
  };
  emit({ type: 'stats', stats });
  if (dump) {
    dump.logits = result.logits;
    dump.shapes.logits = [result.logits.length, cfg.text.vocab];
  }
  return { text: result.text, ids: result.ids, done, stats, dump };
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

/** The video's frames → [F, 3, S, S]; clones keep them open should the video be replaced meanwhile. */
async function preprocessVideo(ctx: GpuContext, video: VideoFrames, S: number): Promise<Tensor> {
  const own = video.frames.map((f) => ('clone' in f ? f.clone() : f));
  try {
    return await framesToTensor(ctx, own, S, { rotation: video.rotation });
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
