/**
 * The model command group: holds the loaded model, swaps it only after a new one loaded completely,
 * runs one question at a time, and stops it on request. GPU work lives in model-load.ts and
 * model-ask.ts; this file owns the state and its rules.
 */

import type { AskResult, LoadModelOptions, ModelCommands, ModelSource } from '../engine-client/protocol';
import { EngineError } from '../engine-client/protocol';
import { runAsk, type VisualCache } from './model-ask';
import { ModelCache } from './model-cache';
import { isAbort, modelError } from './model-errors';
import { type LoadedModel, loadCheckpoint, weightSource } from './model-load';
import { noVideo, type VideoLookup } from './model-video';
import type { EngineSession } from './session';
import type { VisionHub } from './video-vision';

/** The question being answered; `lost`: the device was lost under it. */
interface Asking {
  abort: AbortController;
  done: Promise<AskResult>;
  lost?: boolean;
}

const lostWhileAnswering = () =>
  new EngineError(
    'device-lost',
    'The GPU device was lost while answering.',
    'A new device is being set up and the model reloaded; ask again when the page says it is ready.',
  );

/** `vision` (optional): runs the vision tower ahead of questions; told about each model swap. */
export function modelCommands(
  session: EngineSession,
  currentVideo: VideoLookup = noVideo,
  vision?: VisionHub,
): ModelCommands {
  let loaded: LoadedModel | null = null;
  let loading: AbortController | null = null;
  let asking: Asking | null = null;
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

  // What was last loaded, to load again on a new device after a loss (OPFS first, as any load).
  let last: { source: ModelSource; options: LoadModelOptions } | null = null;
  let lostModel: LoadedModel | null = null;
  /** Loads cut short by a lost device (they fail saying so, not as replaced by another load). */
  const lostLoads = new WeakSet<AbortController>();
  session.deviceUsers.push({
    lost() {
      if (loading) {
        lostLoads.add(loading);
        loading.abort();
      }
      if (asking) {
        asking.lost = true;
        asking.abort.abort();
      }
      // The visual tokens and vision jobs live on the lost device: dropped, not released into a pool.
      cache.current = null;
      if (loaded) vision?.dropModel(loaded.id);
      lostModel = loaded;
      loaded = null;
      session.loaded = null;
    },
    async restore(ctx) {
      try {
        lostModel?.model.destroy(); // its buffers died with the device; this only forgets them
      } catch {}
      lostModel = null;
      if (!last) return null;
      const { source, options } = last;
      const ac = new AbortController();
      loading = ac;
      try {
        const next = await loadCheckpoint(
          ctx,
          source,
          nextId++,
          undefined,
          ac.signal,
          options.weights,
          offline,
          {
            limits: options.limits,
            gpuMemoryBudget: options.gpuMemoryBudget,
          },
        );
        loaded = next;
        session.loaded = next;
        vision?.setModel(next);
        return next.info;
      } catch (e) {
        // A load the user started meanwhile replaced this one: theirs is the model now.
        if (ac.signal.aborted && !lostLoads.has(ac)) return null;
        throw modelError(e, weightSource(source).label);
      } finally {
        if (loading === ac) loading = null;
      }
    },
  });

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
        last = { source, options };
        // The loaded video's vision for the new model starts now, not at the first question.
        vision?.setModel(next);
        if (old) await retire(old);
        return next.info;
      } catch (e) {
        if (lostLoads.has(ac))
          throw new EngineError(
            'device-lost',
            `The GPU device was lost while loading ${label}.`,
            'A new device is being set up; load it again once the page says it is ready.',
          );
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
      const current: Asking = { abort, done: run };
      asking = current;
      session.askDone = run.then(
        () => {},
        () => {},
      );
      try {
        const result = await run;
        if (current.lost) throw lostWhileAnswering();
        return result;
      } catch (e) {
        throw current.lost ? lostWhileAnswering() : e;
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

    async verifyCachedModel(folder, onProgress) {
      if (!offline) throw new EngineError('not-ready', 'This browser keeps no offline models.', '');
      return offline.verify(folder, onProgress);
    },
  };
}
