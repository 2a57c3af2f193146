import { useStore } from 'zustand';
import { createStore, type StoreApi } from 'zustand/vanilla';
import {
  type AdapterSummary,
  createEngineClient,
  type DeviceRecovery,
  type EngineClient,
  type EngineErrorInfo,
  errorInfo,
  type SelfTestResult,
} from '../engine-client';
import { createFinetuneSlice, type FinetuneSlice } from './finetune/finetune-slice';
import { createModelSlice, type ModelSlice } from './model/model-slice';
import { createVideoSlice, type VideoSlice } from './video/video-slice';

export type AdapterPhase = 'idle' | 'starting' | 'ready' | 'error';
export type SelfTestPhase = 'idle' | 'running' | 'done' | 'error';

export interface AppState extends ModelSlice, VideoSlice, FinetuneSlice {
  adapterPhase: AdapterPhase;
  adapter: AdapterSummary | null;
  adapterError: EngineErrorInfo | null;
  /** Device lost or an uncaptured GPU error after start. */
  deviceError: EngineErrorInfo | null;
  /** The engine's recovery from a lost device (a new device, the model reloaded). */
  deviceRecovery: DeviceRecovery | null;
  selfTestPhase: SelfTestPhase;
  results: SelfTestResult[];
  progress: { done: number; total: number };
  selfTestError: EngineErrorInfo | null;
  /** Acquires the GPU, then runs the self-test once. Safe to call repeatedly. */
  start(): Promise<void>;
  runSelfTest(): Promise<void>;
}

/** The app's state over an engine (created on first use, so tests can pass a fake). */
export function createAppStore(getEngine: () => EngineClient): StoreApi<AppState> {
  let engine: EngineClient | null = null;
  // What to load again into a new engine when the old one stops by itself.
  let lastModel: Parameters<ModelSlice['loadModel']> | null = null;
  let lastVideo: Parameters<VideoSlice['loadVideo']> | null = null;
  let restart: (error: EngineErrorInfo) => Promise<void> = async () => {};
  const eng = () => {
    if (!engine) {
      const e = getEngine();
      engine = e;
      // Absent in engines faked by tests.
      if (typeof e.onStopped === 'function')
        e.onStopped((err) => {
          if (engine !== e) return;
          engine = null;
          void restart(err);
        });
    }
    return engine;
  };

  return createStore<AppState>()((set, get) => {
    const model = createModelSlice(eng, set, get);
    const video = createVideoSlice(eng, set, get);
    /** A new engine after one stopped: the GPU again, then the model and the video (the history is the page's). */
    restart = async (err) => {
      set({
        adapterPhase: 'idle',
        deviceError: err,
        deviceRecovery: { state: 'recovering', message: 'Starting a new engine…' },
      });
      await get().start();
      if (get().adapterPhase !== 'ready') {
        set({
          deviceRecovery: {
            state: 'failed',
            message: 'A new engine could not be started.',
            error: get().adapterError ?? err,
          },
        });
        return;
      }
      if (lastModel) await get().loadModel(...lastModel);
      if (lastVideo && get().video) await get().loadVideo(...lastVideo);
      const name = get().model?.name;
      set({
        deviceError: null,
        deviceRecovery: {
          state: 'recovered',
          message: `The engine stopped and a new one is running${name ? `; ${name} was loaded again` : ''}. Your video and conversation are kept: ask again.`,
        },
      });
    };
    return {
      ...model,
      ...video,
      async loadModel(...args) {
        lastModel = args;
        await model.loadModel(...args);
      },
      async loadVideo(...args) {
        lastVideo = args;
        await video.loadVideo(...args);
      },
      ...createFinetuneSlice(eng, set, get),
      adapterPhase: 'idle',
      adapter: null,
      adapterError: null,
      deviceError: null,
      deviceRecovery: null,
      selfTestPhase: 'idle',
      results: [],
      progress: { done: 0, total: 0 },
      selfTestError: null,

      async start() {
        const phase = get().adapterPhase;
        if (phase === 'starting' || phase === 'ready') return;
        set({ adapterPhase: 'starting', adapterError: null });
        try {
          const adapter = await eng().init(
            {},
            (e) => set({ deviceError: e }),
            // Once recovered the loss is history: the banner says what happened, the panel shows the model.
            (r) =>
              set(
                r.state === 'recovered'
                  ? { deviceRecovery: r, deviceError: null, ...(r.model ? { model: r.model } : {}) }
                  : { deviceRecovery: r },
              ),
          );
          set({ adapterPhase: 'ready', adapter });
          // Vision progress of every video from now on (absent in engines faked by tests).
          const e = eng();
          if (typeof e.watchVision === 'function')
            void e.watchVision((p) => get().onVisionProgress(p)).catch(() => {});
        } catch (e) {
          set({ adapterPhase: 'error', adapterError: errorInfo(e) });
          return;
        }
        // Once per page: a new engine after a stop runs on the adapter already checked.
        if (get().selfTestPhase !== 'done') await get().runSelfTest();
      },

      async runSelfTest() {
        if (get().selfTestPhase === 'running' || get().adapterPhase !== 'ready') return;
        set({ selfTestPhase: 'running', results: [], progress: { done: 0, total: 0 }, selfTestError: null });
        try {
          const results = await eng().selfTest((r, progress) =>
            set((s) => ({ results: [...s.results, r], progress })),
          );
          set({ selfTestPhase: 'done', results, progress: { done: results.length, total: results.length } });
        } catch (e) {
          set({ selfTestPhase: 'error', selfTestError: errorInfo(e) });
        }
      },
    };
  });
}

let appStore: StoreApi<AppState> | null = null;

/** The page's store, talking to the engine worker. */
export function getAppStore(): StoreApi<AppState> {
  appStore ??= createAppStore(createEngineClient);
  return appStore;
}

export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(getAppStore(), selector);
}
