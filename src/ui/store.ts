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
  const eng = () => {
    engine ??= getEngine();
    return engine;
  };

  return createStore<AppState>()((set, get) => ({
    ...createModelSlice(eng, set, get),
    ...createVideoSlice(eng, set, get),
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
      await get().runSelfTest();
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
  }));
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
