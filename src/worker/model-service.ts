/**
 * The model command group: holds the loaded model, swaps it only after a new one loaded completely,
 * runs one question at a time, and stops it on request. GPU work lives in model-load.ts and
 * model-ask.ts; this file owns the state and its rules.
 */

import type { AskResult, ModelCommands } from '../engine-client/protocol';
import { EngineError } from '../engine-client/protocol';
import { runAsk, type VisualCache } from './model-ask';
import { ModelCache } from './model-cache';
import { isAbort, modelError } from './model-errors';
import { type LoadedModel, loadCheckpoint, weightSource } from './model-load';
import { noVideo, type VideoLookup } from './model-video';
import type { EngineSession } from './session';
import type { VisionHub } from './video-vision';

/** `vision` (optional): runs the vision tower ahead of questions; told about each model swap. */
export function modelCommands(
  session: EngineSession,
  currentVideo: VideoLookup = noVideo,
  vision?: VisionHub,
): ModelCommands {
  let loaded: LoadedModel | null = null;
  let loading: AbortController | null = null;
  let asking: { abort: AbortController; done: Promise<AskResult> } | null = null;
  const cache: { current: VisualCache | null } = { current: null };
  let nextId = 1;
  const storage = session.env.storage?.();
  const offline = storage ? new ModelCache(storage) : null;

  /** Frees a replaced model once no question uses it any more. */
  async function retire(old: LoadedModel): Promise<void> {
    if (asking) await asking.done.catch(() => {});
    const ctx = session.gpu();
    if (!asking && cache.current && cache.current.modelId === old.id) {
      ctx.release(cache.current.visual);
      cache.current = null;
    }
    vision?.dropModel(old.id);
    old.model.destroy();
  }

  return {
    async loadModel(source, onProgress, options = {}) {
      const ctx = session.gpu();
      session.checkIdle('Loading a model');
      loading?.abort();
      const ac = new AbortController();
      loading = ac;
      let label = 'the checkpoint';
      try {
        label = weightSource(source).label;
        const next = await loadCheckpoint(
          ctx,
          source,
          nextId++,
          onProgress,
          ac.signal,
          options.weights,
          offline,
          { limits: options.limits, gpuMemoryBudget: options.gpuMemoryBudget },
        );
        if (ac.signal.aborted) {
          next.model.destroy();
          throw new EngineError('cancelled', 'Loading was replaced by another load.', '');
        }
        const old = loaded;
        loaded = next;
        session.loaded = next;
        // The loaded video's vision for the new model starts now, not at the first question.
        vision?.setModel(next);
        if (old) await retire(old);
        return next.info;
      } catch (e) {
        if (isAbort(e) || ac.signal.aborted)
          throw new EngineError('cancelled', `Loading ${label} was cancelled by another load.`, '');
        throw modelError(e, label);
      } finally {
        if (loading === ac) loading = null;
      }
    },

    async modelInfo() {
      return loaded?.info ?? null;
    },

    async ask(request, onEvent) {
      const ctx = session.gpu();
      if (!loaded)
        throw new EngineError('no-model', 'No model is loaded.', 'Load a model first (the model panel).');
      session.checkIdle('The question');
      if (asking)
        throw new EngineError(
          'busy',
          'A question is already being answered.',
          'Wait for its answer, or press Stop.',
        );
      const abort = new AbortController();
      const model = loaded;
      const run = (async () => {
        const video = request.pixels || request.visual === 'text' ? null : await currentVideo();
        const job = video && vision?.job(model.id, video.key);
        return runAsk(
          {
            ctx,
            loaded: model,
            video,
            visionAhead: job || null,
            cache,
            signal: abort.signal,
            emit: (e) => onEvent?.(e),
          },
          request,
        );
      })();
      asking = { abort, done: run };
      session.askDone = run.then(
        () => {},
        () => {},
      );
      try {
        return await run;
      } finally {
        asking = null;
      }
    },

    async stop() {
      asking?.abort.abort();
    },

    async cachedModels() {
      return offline ? offline.list() : [];
    },

    async deleteCachedModel(id) {
      return offline ? offline.remove(id) : 0;
    },
  };
}
