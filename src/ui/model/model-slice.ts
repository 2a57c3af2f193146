/**
 * The model's part of the app store: which model is loaded (and the one loading), the question being
 * answered as it streams (phase, raw text, think / answer, option, stats), and the sampling settings.
 * Joined into AppState by src/ui/store.ts; tested on its own with a fake engine.
 */
import type {
  AskEvent,
  AskPhase,
  AskStats,
  CachedModel,
  CacheVerification,
  DoneEvent,
  Engine,
  EngineErrorInfo,
  ModelInfo,
  ModelLoadProgress,
  ModelSource,
} from '../../engine-client';
import { errorInfo } from '../../engine-client';

/**
 * The demo model that ships with the app (public/models/tiny-r1-shapes, committed): a toy
 * TinyLLaVA-Video trained in this project on moving squares (`npm run rl:demo -- --save`).
 */
export const DEFAULT_MODEL_PATH = 'models/tiny-r1-shapes/';

/** Absolute URL of the default model, relative to the page's base URL (works under a sub-path). */
export function defaultModelUrl(): string {
  const base = new URL(import.meta.env?.BASE_URL ?? '/', globalThis.location?.href ?? 'http://localhost/');
  return new URL(DEFAULT_MODEL_PATH, base).href;
}

export interface SamplingSettings {
  /** 0 = greedy. Default 0.1 (the upstream demo script). */
  temperature: number;
  maxNewTokens: number;
  seed: number;
}

export const DEFAULT_SAMPLING_SETTINGS: SamplingSettings = { temperature: 0.1, maxNewTokens: 1024, seed: 0 };

export interface ModelLoadState {
  /** What is loading: a URL or "picked files". */
  label: string;
  progress: ModelLoadProgress | null;
}

export type AnswerStatus = 'idle' | 'running' | 'done' | 'stopped' | 'error';

export interface AnswerState {
  status: AnswerStatus;
  question: string;
  options: string[];
  /** The phase running now (null before start and after the end). */
  phase: AskPhase | null;
  /** Where the visual tokens came from ('none': no video, text only). */
  visual: 'video' | 'pixels' | 'none' | null;
  frames: number;
  /** Raw generated text, as streamed. */
  text: string;
  tokens: number;
  think: string;
  /** Tokens generated while the think section was the open one (the live count the panel shows). */
  thinkTokens: number;
  answer: string;
  done: DoneEvent | null;
  stats: AskStats | null;
  /** Per-phase times as they arrive (ms). */
  phaseMs: Partial<Record<AskPhase, number>>;
  error: EngineErrorInfo | null;
  stopping: boolean;
}

export interface ModelSlice {
  model: ModelInfo | null;
  modelLoad: ModelLoadState | null;
  modelError: EngineErrorInfo | null;
  answer: AnswerState;
  sampling: SamplingSettings;
  /** Loads a checkpoint; the loaded one stays in use until the new one is ready. */
  loadModel(source: ModelSource, label?: string): Promise<void>;
  /** Loads the shipped default model once (later calls do nothing). */
  loadDefaultModel(): Promise<void>;
  askQuestion(question: string, options?: string[]): Promise<void>;
  stopAnswer(): Promise<void>;
  setSampling(patch: Partial<SamplingSettings>): void;
  /** Models kept for offline use in this browser (null until listed, or where storage is off). */
  cachedModels: CachedModel[] | null;
  refreshCachedModels(): Promise<void>;
  /** Deletes every offline revision of a model id, then lists again. */
  deleteCachedModel(id: string): Promise<void>;
  /** Re-verifies of cached models by folder: progress, then what was found. */
  cacheChecks: Record<string, CacheCheck>;
  /** Re-hashes one cached model's files against its manifest. */
  verifyCachedModel(folder: string): Promise<void>;
}

export type CacheCheck =
  | { state: 'running'; done: number; total: number }
  | { state: 'done'; result: CacheVerification }
  | { state: 'error'; error: EngineErrorInfo };

export const IDLE_ANSWER: AnswerState = {
  status: 'idle',
  question: '',
  options: [],
  phase: null,
  visual: null,
  frames: 0,
  text: '',
  tokens: 0,
  think: '',
  thinkTokens: 0,
  answer: '',
  done: null,
  stats: null,
  phaseMs: {},
  error: null,
  stopping: false,
};

type SetState<S> = (partial: Partial<S> | ((s: S) => Partial<S>)) => void;

/** Folds one engine event into the answer state (pure: unit-tested). */
export function reduceAskEvent(a: AnswerState, e: AskEvent): AnswerState {
  switch (e.type) {
    case 'start':
      return { ...a, visual: e.visual, frames: e.frames };
    case 'phase':
      if (e.state === 'start') return { ...a, phase: e.phase };
      return { ...a, phaseMs: { ...a.phaseMs, [e.phase]: e.ms ?? 0 } };
    case 'token': {
      // Until an answer appears, every token counts as thinking (the parser's rule for untagged text).
      const thinking = a.answer === '' && !a.done;
      return {
        ...a,
        text: a.text + e.text,
        tokens: a.tokens + 1,
        thinkTokens: a.thinkTokens + (thinking ? 1 : 0),
      };
    }
    case 'reasoning': {
      const r = e.event;
      if (r.type === 'think') return { ...a, think: a.think + r.text };
      if (r.type === 'answer') return { ...a, answer: a.answer + r.text };
      return { ...a, done: r, think: r.thinkText, answer: r.answerText || r.answer };
    }
    case 'stats':
      return { ...a, stats: e.stats, phase: null };
  }
}

/** Option lines as typed ("A. text", "B) text" or plain) → the option texts, labels stripped. */
export function parseOptionLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.replace(/^\(?[A-Za-z]\s*[.):]\s+/, '').trim())
    .filter(Boolean);
}

export function createModelSlice(
  getEngine: () => Engine,
  set: SetState<ModelSlice>,
  get: () => ModelSlice,
): ModelSlice {
  let defaultRequested = false;
  let loadSeq = 0;
  return {
    model: null,
    cachedModels: null,
    cacheChecks: {},
    modelLoad: null,
    modelError: null,
    answer: IDLE_ANSWER,
    sampling: DEFAULT_SAMPLING_SETTINGS,

    async loadModel(source, label) {
      const seq = ++loadSeq;
      const what =
        label ??
        (source.kind === 'url'
          ? source.baseUrl
          : source.kind === 'hub'
            ? source.repo
            : `${source.files.length} picked files`);
      set({ modelLoad: { label: what, progress: null }, modelError: null });
      // Progress events travel on their own channel and may trail the result: once it is in, they
      // are dropped (a late one would put the panel back to "loading" with the model ready).
      let live = true;
      try {
        const info = await getEngine().loadModel(source, (progress) => {
          if (live && seq === loadSeq) set({ modelLoad: { label: what, progress } });
        });
        live = false;
        if (seq === loadSeq) set({ model: info, modelLoad: null });
        void get().refreshCachedModels();
      } catch (e) {
        live = false;
        const err = errorInfo(e);
        // A load replaced by a newer one is not an error to show.
        if (seq === loadSeq) set({ modelLoad: null, modelError: err.kind === 'cancelled' ? null : err });
      }
    },

    async loadDefaultModel() {
      if (defaultRequested) return;
      defaultRequested = true;
      await get().loadModel({ kind: 'url', baseUrl: defaultModelUrl() }, 'the demo model (tiny-r1-shapes)');
    },

    async askQuestion(question, options = []) {
      if (get().answer.status === 'running') return;
      const { temperature, maxNewTokens, seed } = get().sampling;
      set({ answer: { ...IDLE_ANSWER, status: 'running', question, options } });
      // Events travel on their own channel and may trail the result: once it is in, they are dropped.
      let live = true;
      try {
        const result = await getEngine().ask(
          { question, options, sampling: { temperature, maxNewTokens, seed } },
          (e) => {
            if (live) set((s) => ({ answer: reduceAskEvent(s.answer, e) }));
          },
        );
        live = false;
        set((s) => ({
          answer: {
            ...s.answer,
            status: result.stats.stoppedBy === 'cancel' ? 'stopped' : 'done',
            phase: null,
            stopping: false,
            done: result.done,
            stats: result.stats,
            // The result is authoritative (events may still be in flight).
            text: result.text,
            think: result.done.thinkText,
            answer: result.done.answerText || result.done.answer,
          },
        }));
      } catch (e) {
        live = false;
        set((s) => ({
          answer: { ...s.answer, status: 'error', phase: null, stopping: false, error: errorInfo(e) },
        }));
      }
    },

    async stopAnswer() {
      if (get().answer.status !== 'running') return;
      set((s) => ({ answer: { ...s.answer, stopping: true } }));
      await getEngine().stop();
    },

    setSampling(patch) {
      set((s) => ({ sampling: { ...s.sampling, ...patch } }));
    },

    async refreshCachedModels() {
      try {
        set({ cachedModels: await getEngine().cachedModels() });
      } catch {
        set({ cachedModels: null });
      }
    },

    async deleteCachedModel(id) {
      try {
        await getEngine().deleteCachedModel(id);
      } finally {
        await get().refreshCachedModels();
      }
    },

    async verifyCachedModel(folder) {
      const put = (c: CacheCheck) => set((s) => ({ cacheChecks: { ...s.cacheChecks, [folder]: c } }));
      if (get().cacheChecks[folder]?.state === 'running') return;
      put({ state: 'running', done: 0, total: 0 });
      // Progress travels on its own channel and can arrive after the result: drop it once settled.
      let settled = false;
      try {
        const result = await getEngine().verifyCachedModel(folder, (done, total) => {
          if (!settled) put({ state: 'running', done, total });
        });
        settled = true;
        put({ state: 'done', result });
      } catch (e) {
        settled = true;
        put({ state: 'error', error: errorInfo(e) });
      }
    },
  };
}
