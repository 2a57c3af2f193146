/**
 * The fine-tune view's part of the app store: the dataset (items with their clips, a held-out
 * split), the run's settings, its state and the metrics of every step as they stream, the latest
 * completions, the run saved in OPFS (offered for resume after a reload), before / after evaluation,
 * and the saved adapters with the one the ask flow uses. Joined into AppState by src/ui/store.ts.
 */
import type {
  AdapterInfo,
  Engine,
  EngineErrorInfo,
  EvalResult,
  NamedFile,
  SavedRun,
  TrainCompletion,
  TrainEstimate,
  TrainEvent,
  TrainItem,
  TrainSettings,
  TrainState,
  TrainStepMetrics,
} from '../../engine-client';
import { DEFAULT_TRAIN_SETTINGS, errorInfo } from '../../engine-client';
import { datasetZip, readDatasetFiles } from './dataset-files';

export interface DatasetEntry extends TrainItem {
  heldOut: boolean;
}

export interface RunView {
  state: TrainState;
  step: number;
  totalSteps: number;
  message?: string;
  /** Clips through the vision tower before the first step. */
  prepare: { done: number; total: number } | null;
  /** Step of the newest checkpoint in OPFS. */
  checkpoint: number;
  /** Set when this run continued a saved one (after a reload): the step it resumed from. */
  resumedFrom: number | null;
}

export interface FinetuneSlice {
  view: 'ask' | 'finetune';
  setView(v: 'ask' | 'finetune'): void;
  dataset: DatasetEntry[];
  datasetBusy: string | null;
  datasetError: EngineErrorInfo | null;
  generateSquares(count: number, heldOut: number, seed: number, colours?: string[]): Promise<void>;
  importDataset(files: File[]): Promise<void>;
  exportDataset(): Promise<Blob>;
  toggleHeldOut(index: number): void;
  /** One question about a video, written in the page (its problem text as the paper's: options after it). */
  addItem(video: File, question: string, options: string[], answer: string, heldOut: boolean): void;
  clearDataset(): void;
  trainSettings: TrainSettings;
  setTrainSettings(patch: Partial<TrainSettings>): void;
  estimate: TrainEstimate | null;
  refreshEstimate(settings: TrainSettings): Promise<void>;
  run: RunView;
  log: TrainStepMetrics[];
  completions: TrainCompletion[];
  trainError: EngineErrorInfo | null;
  savedRun: SavedRun | null;
  refreshSavedRun(): Promise<void>;
  discardSavedRun(): Promise<void>;
  startRun(): Promise<void>;
  pauseRun(): Promise<void>;
  resumeRun(): Promise<void>;
  stopRun(): Promise<void>;
  evals: { before: EvalResult | null; after: EvalResult | null; running: 'before' | 'after' | null };
  /** Held-out accuracy and format rate as the run evaluated them (step 0: the base). */
  evalHistory: { step: number; accuracy: number; formatRate: number }[];
  evaluate(which: 'before' | 'after'): Promise<void>;
  adapters: AdapterInfo[];
  activeAdapter: string | null;
  adapterError: EngineErrorInfo | null;
  refreshAdapters(): Promise<void>;
  saveAdapter(name: string): Promise<void>;
  renameAdapter(id: string, name: string): Promise<void>;
  deleteAdapter(id: string): Promise<void>;
  exportAdapter(id: string): Promise<NamedFile[]>;
  importAdapter(files: File[], name: string): Promise<void>;
  useAdapter(id: string | null): Promise<void>;
}

export const IDLE_RUN: RunView = {
  state: 'idle',
  step: 0,
  totalSteps: 0,
  prepare: null,
  checkpoint: 0,
  resumedFrom: null,
};

/** A run holds the GPU in these states (questions wait). */
export const holdsGpu = (s: TrainState): boolean => s === 'preparing' || s === 'running';

type SetState<S> = (partial: Partial<S> | ((s: S) => Partial<S>)) => void;

/** Folds one run event into the view (pure). */
export function reduceTrainEvent(
  s: Pick<FinetuneSlice, 'run' | 'log' | 'completions' | 'evalHistory' | 'evals'>,
  e: TrainEvent,
): Partial<FinetuneSlice> {
  switch (e.type) {
    case 'state':
      return {
        run: { ...s.run, state: e.state, step: e.step, totalSteps: e.totalSteps, message: e.message },
      };
    case 'prepare':
      return { run: { ...s.run, prepare: { done: e.done, total: e.total } } };
    case 'step':
      return {
        run: { ...s.run, step: e.metrics.step, prepare: null },
        // A resumed step replaces one the log already has (none normally).
        log: [...s.log.filter((m) => m.step < e.metrics.step), e.metrics],
        completions: e.completions,
      };
    case 'checkpoint':
      return { run: { ...s.run, checkpoint: e.step } };
    case 'eval': {
      const point = { step: e.step, accuracy: e.result.accuracy, formatRate: e.result.formatRate };
      return {
        evalHistory: [...s.evalHistory.filter((p) => p.step < e.step), point],
        evals: e.step === 0 ? { ...s.evals, before: e.result } : { ...s.evals, after: e.result },
      };
    }
  }
}

const initialView = (): 'ask' | 'finetune' =>
  globalThis.location?.hash === '#finetune' ? 'finetune' : 'ask';

export function createFinetuneSlice(
  getEngine: () => Engine,
  set: SetState<FinetuneSlice>,
  get: () => FinetuneSlice,
): FinetuneSlice {
  /** Runs a command as the run's driver: events until it resolves, then its result is final. */
  async function drive(
    call: (onEvent: (e: TrainEvent) => void) => Promise<{ state: TrainState; step: number }>,
  ) {
    let live = true;
    set({ trainError: null });
    try {
      const r = await call((e) => {
        if (live) set((s) => reduceTrainEvent(s, e));
      });
      live = false;
      set((s) => ({ run: { ...s.run, state: r.state, step: r.step, prepare: null } }));
    } catch (e) {
      live = false;
      const err = errorInfo(e);
      set((s) => ({
        trainError: err,
        run: { ...s.run, state: s.run.state === 'paused' ? 'paused' : 'error' },
      }));
    }
    void get().refreshSavedRun();
  }

  const trainItems = () => get().dataset.filter((d) => !d.heldOut);
  const heldOutItems = () => get().dataset.filter((d) => d.heldOut);
  const strip = ({ heldOut: _h, ...it }: DatasetEntry): TrainItem => it;

  return {
    view: initialView(),
    setView(view) {
      set({ view });
      if (typeof globalThis.history !== 'undefined')
        history.replaceState(
          null,
          '',
          view === 'finetune' ? '#finetune' : location.pathname + location.search,
        );
    },
    dataset: [],
    datasetBusy: null,
    datasetError: null,

    async generateSquares(count, heldOut, seed, colours) {
      set({ datasetBusy: 'Making clips…', datasetError: null });
      try {
        const items = await getEngine().trainSquares(
          { count: count + heldOut, seed, colours },
          (done, total) => set({ datasetBusy: `Making clips… ${done}/${total}` }),
        );
        set((s) => ({
          dataset: [...s.dataset, ...items.map((it, i) => ({ ...it, heldOut: i >= count }))],
          datasetBusy: null,
        }));
      } catch (e) {
        set({ datasetBusy: null, datasetError: errorInfo(e) });
      }
    },

    async importDataset(files) {
      set({ datasetBusy: 'Reading the dataset…', datasetError: null });
      try {
        const entries = await readDatasetFiles(files, (text, source) =>
          getEngine().trainParseDataset(text, source),
        );
        set((s) => ({ dataset: [...s.dataset, ...entries], datasetBusy: null }));
      } catch (e) {
        set({ datasetBusy: null, datasetError: errorInfo(e) });
      }
    },

    async exportDataset() {
      const items = get().dataset;
      const jsonl = await getEngine().trainFormatDataset(
        items.map(({ video: _v, heldOut, ...it }) => (heldOut ? { ...it, split: 'heldout' } : it)),
      );
      return datasetZip(jsonl, items);
    },

    addItem(video, question, options, answer, heldOut) {
      const problem = options.length
        ? `${question}\nOptions:\n${options.map((o, i) => `${String.fromCharCode(65 + i)}. ${o}`).join('\n')}`
        : question;
      set((s) => ({
        dataset: [
          ...s.dataset,
          {
            problem,
            solution: `<answer>${answer}</answer>`,
            problem_id: `custom-${s.dataset.length + 1}-${Date.now().toString(36)}`,
            video_filename: video.name,
            video,
            heldOut,
          },
        ],
      }));
    },

    toggleHeldOut(index) {
      set((s) => ({ dataset: s.dataset.map((d, i) => (i === index ? { ...d, heldOut: !d.heldOut } : d)) }));
    },

    clearDataset() {
      set({ dataset: [], datasetError: null, evals: { before: null, after: null, running: null } });
    },

    trainSettings: DEFAULT_TRAIN_SETTINGS,
    setTrainSettings(patch) {
      set((s) => ({ trainSettings: { ...s.trainSettings, ...patch } }));
    },

    estimate: null,
    async refreshEstimate(settings) {
      try {
        set({ estimate: await getEngine().trainEstimate(settings) });
      } catch {
        set({ estimate: null });
      }
    },

    run: IDLE_RUN,
    log: [],
    completions: [],
    trainError: null,
    savedRun: null,

    async refreshSavedRun() {
      try {
        const savedRun = await getEngine().trainSaved();
        set({ savedRun });
        // After a reload the page's dataset is empty: show the saved run's again.
        if (savedRun && get().dataset.length === 0 && get().run.state === 'idle') {
          const saved = await getEngine().trainSavedItems();
          if (get().dataset.length === 0)
            set({ dataset: saved.map(({ item, heldOut }) => ({ ...item, heldOut })) });
        }
      } catch {
        set({ savedRun: null });
      }
    },

    async discardSavedRun() {
      try {
        await getEngine().trainDiscard();
        set({ savedRun: null, run: IDLE_RUN, log: [], completions: [] });
      } catch (e) {
        set({ trainError: errorInfo(e) });
      }
    },

    async startRun() {
      if (holdsGpu(get().run.state)) return;
      const items = trainItems().map(strip);
      const settings = get().trainSettings;
      set({
        run: { ...IDLE_RUN, state: 'preparing', totalSteps: settings.steps },
        log: [],
        completions: [],
        evalHistory: [],
        evals: { before: null, after: null, running: null },
      });
      const heldOut = heldOutItems().map(strip);
      await drive((onEvent) => getEngine().trainStart(items, settings, onEvent, heldOut));
    },

    async pauseRun() {
      await getEngine().trainPause();
    },

    async resumeRun() {
      if (holdsGpu(get().run.state)) return;
      const saved = get().savedRun;
      // After a reload (idle) or a failure (a lost device): the run saved in OPFS.
      const fresh = (get().run.state === 'idle' || get().run.state === 'error') && saved;
      if (fresh)
        set({
          run: {
            ...IDLE_RUN,
            state: 'preparing',
            step: saved.step,
            totalSteps: saved.totalSteps,
            checkpoint: saved.step,
            resumedFrom: saved.step,
          },
          log: saved.log,
          evalHistory: saved.evals,
          trainSettings: { ...DEFAULT_TRAIN_SETTINGS, ...saved.settings }, // settings added since keep their defaults
        });
      else set((s) => ({ run: { ...s.run, state: 'running' } }));
      await drive((onEvent) => getEngine().trainResume(onEvent));
    },

    async stopRun() {
      await getEngine().trainStop();
      if (get().run.state === 'paused') set((s) => ({ run: { ...s.run, state: 'stopped' } }));
    },

    evals: { before: null, after: null, running: null },
    evalHistory: [],
    async evaluate(which) {
      const items = heldOutItems().map(strip);
      if (!items.length) return;
      set((s) => ({ evals: { ...s.evals, running: which }, trainError: null }));
      try {
        const r = await getEngine().trainEvaluate(
          items,
          which === 'before' ? 'base' : 'training',
          get().trainSettings.max_completion_length,
        );
        set((s) => ({ evals: { ...s.evals, [which]: r, running: null } }));
      } catch (e) {
        set((s) => ({ evals: { ...s.evals, running: null }, trainError: errorInfo(e) }));
      }
    },

    adapters: [],
    activeAdapter: null,
    adapterError: null,

    async refreshAdapters() {
      try {
        const e = getEngine();
        set({ adapters: await e.adapterList(), activeAdapter: await e.adapterActive() });
      } catch {
        set({ adapters: [] });
      }
    },

    async saveAdapter(name) {
      set({ adapterError: null });
      try {
        await getEngine().adapterSave(name);
      } catch (e) {
        set({ adapterError: errorInfo(e) });
      }
      await get().refreshAdapters();
    },

    async renameAdapter(id, name) {
      try {
        await getEngine().adapterRename(id, name);
      } catch (e) {
        set({ adapterError: errorInfo(e) });
      }
      await get().refreshAdapters();
    },

    async deleteAdapter(id) {
      try {
        await getEngine().adapterDelete(id);
      } catch (e) {
        set({ adapterError: errorInfo(e) });
      }
      await get().refreshAdapters();
    },

    async exportAdapter(id) {
      return getEngine().adapterExport(id);
    },

    async importAdapter(files, name) {
      set({ adapterError: null });
      try {
        const named = await Promise.all(
          files.map(async (f) => ({ name: f.name, data: new Uint8Array(await f.arrayBuffer()) })),
        );
        await getEngine().adapterImport(named, name);
      } catch (e) {
        set({ adapterError: errorInfo(e) });
      }
      await get().refreshAdapters();
    },

    async useAdapter(id) {
      set({ adapterError: null });
      try {
        await getEngine().adapterUse(id);
        set({ activeAdapter: id });
      } catch (e) {
        set({ adapterError: errorInfo(e) });
      }
    },
  };
}
