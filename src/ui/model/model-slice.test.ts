import { describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import type {
  AskEvent,
  AskResult,
  AskStats,
  DoneEvent,
  Engine,
  ModelInfo,
  ModelLoadProgress,
  ModelSource,
} from '../../engine-client';
import { EngineError } from '../../engine-client';
import {
  createModelSlice,
  IDLE_ANSWER,
  type ModelSlice,
  parseOptionLines,
  reduceAskEvent,
} from './model-slice';

const info = { name: 'tiny-a', parameters: 10 } as ModelInfo;
const stats = { stoppedBy: 'eos', newTokens: 2 } as AskStats;

/** The reasoning parser's done event for `<think>think</think><answer>answer</answer>` (parser tested in src/model). */
const doneEvent = (answer: string, think = ''): DoneEvent => ({
  type: 'done',
  answer,
  option: /^[A-D]$/.test(answer) ? answer : null,
  thinkText: think,
  answerText: answer,
  answerOpened: answer !== '',
  answerClosed: answer !== '',
  trailingText: '',
});

function store(engine: Partial<Engine>) {
  return createStore<ModelSlice>()((set, get) => createModelSlice(() => engine as Engine, set, get));
}

describe('model slice', () => {
  it('parses option lines with or without labels', () => {
    expect(parseOptionLines('A. left\n\nB) right\n(C) up\ndown ')).toEqual(['left', 'right', 'up', 'down']);
  });

  it('folds events: phases, tokens, think / answer deltas, done', () => {
    const events: AskEvent[] = [
      { type: 'phase', phase: 'prefill', state: 'start' },
      { type: 'token', index: 0, id: 1, text: '<think>a' },
      { type: 'reasoning', event: { type: 'think', text: 'a' } },
      { type: 'token', index: 1, id: 2, text: '</think><answer>B' },
      { type: 'reasoning', event: { type: 'answer', text: 'B' } },
      { type: 'token', index: 2, id: 3, text: '</answer>' },
      { type: 'reasoning', event: doneEvent('B', 'a') },
    ];
    const a = events.reduce(reduceAskEvent, { ...IDLE_ANSWER, status: 'running' as const });
    expect(a).toMatchObject({ phase: 'prefill', tokens: 3, think: 'a', answer: 'B', thinkTokens: 2 });
    expect(a.done?.option).toBe('B');
    expect(a.text).toBe('<think>a</think><answer>B</answer>');
  });

  it('keeps the loaded model when a new load fails, and shows the error', async () => {
    const loadModel = vi.fn(async () => info);
    const s = store({ loadModel });
    await s.getState().loadModel({ kind: 'url', baseUrl: 'http://x/a/' });
    expect(s.getState().model).toEqual(info);
    loadModel.mockRejectedValueOnce(new EngineError('model-invalid', 'missing 1: w', 'redownload'));
    await s.getState().loadModel({ kind: 'url', baseUrl: 'http://x/bad/' });
    expect(s.getState().model).toEqual(info);
    expect(s.getState().modelError).toMatchObject({ kind: 'model-invalid', message: 'missing 1: w' });
    expect(s.getState().modelLoad).toBeNull();
  });

  it('drops progress events that arrive after the load finished (the panel does not go back to loading)', async () => {
    let late: ((p: ModelLoadProgress) => void) | undefined;
    const loadModel = vi.fn(async (_s: ModelSource, onProgress?: (p: ModelLoadProgress) => void) => {
      onProgress?.({ phase: 'upload', loadedBytes: 1, totalBytes: 2 });
      late = onProgress;
      return info;
    });
    const s = store({ loadModel });
    await s.getState().loadModel({ kind: 'url', baseUrl: 'http://x/a/' });
    expect(s.getState().modelLoad).toBeNull();
    late?.({ phase: 'upload', loadedBytes: 2, totalBytes: 2 });
    expect(s.getState().modelLoad).toBeNull();
    expect(s.getState().model).toEqual(info);
  });

  it('loads the default model once', async () => {
    const loadModel = vi.fn(async (_source: ModelSource) => info);
    const s = store({ loadModel });
    await Promise.all([s.getState().loadDefaultModel(), s.getState().loadDefaultModel()]);
    expect(loadModel).toHaveBeenCalledTimes(1);
    expect(loadModel.mock.calls[0][0]).toMatchObject({
      kind: 'url',
      baseUrl: expect.stringMatching(/models\/tiny-r1-shapes\/$/),
    });
  });

  it('streams an answer, takes the result as final, and drops late events', async () => {
    let late: ((e: AskEvent) => void) | undefined;
    const done = doneEvent('C');
    const ask = vi.fn(async (_req, onEvent?: (e: AskEvent) => void): Promise<AskResult> => {
      onEvent?.({ type: 'token', index: 0, id: 5, text: '<answer>C' });
      late = onEvent;
      return { text: '<answer>C</answer>', ids: [5, 6], done, stats };
    });
    const s = store({ ask });
    s.getState().setSampling({ temperature: 0 });
    await s.getState().askQuestion('why?', ['x', 'y', 'z']);
    late?.({ type: 'token', index: 1, id: 6, text: 'LATE' });
    const a = s.getState().answer;
    expect(ask.mock.calls[0][0]).toMatchObject({
      question: 'why?',
      options: ['x', 'y', 'z'],
      sampling: { temperature: 0, maxNewTokens: 1024 },
    });
    expect(a).toMatchObject({ status: 'done', text: '<answer>C</answer>', answer: 'C', tokens: 1 });
    expect(a.done?.option).toBe('C');
  });

  it('stop asks the engine to stop; an error ends the answer with it', async () => {
    let release: () => void = () => {};
    const ask = vi.fn(
      () =>
        new Promise<AskResult>((resolve) => {
          release = () =>
            resolve({
              text: '',
              ids: [],
              done: doneEvent(''),
              stats: { ...stats, stoppedBy: 'cancel' },
            });
        }),
    );
    const stop = vi.fn(async () => release());
    const s = store({ ask, stop });
    const running = s.getState().askQuestion('q');
    expect(s.getState().answer.status).toBe('running');
    await s.getState().stopAnswer();
    await running;
    expect(stop).toHaveBeenCalledTimes(1);
    expect(s.getState().answer.status).toBe('stopped');

    ask.mockRejectedValueOnce(new EngineError('no-model', 'No model is loaded.', 'Load one'));
    await s.getState().askQuestion('q');
    expect(s.getState().answer).toMatchObject({ status: 'error', error: { kind: 'no-model' } });
  });

  it('re-verifies a cached model: progress, then what was found; an engine error is kept', async () => {
    const result = {
      folder: 'f',
      ok: false,
      checkedBytes: 10,
      problems: [{ file: 'a', problem: 'missing' }],
    };
    const seen: unknown[] = [];
    let late: ((d: number, t: number) => void) | undefined;
    const s = store({
      verifyCachedModel: vi.fn(async (_folder: string, onProgress?: (d: number, t: number) => void) => {
        onProgress?.(5, 10);
        seen.push(s.getState().cacheChecks.f);
        late = onProgress;
        return result;
      }),
    });
    await s.getState().verifyCachedModel('f');
    expect(seen).toEqual([{ state: 'running', done: 5, total: 10 }]);
    expect(s.getState().cacheChecks.f).toEqual({ state: 'done', result });
    // A progress event that arrives after the result (its own channel) does not undo it.
    late?.(10, 10);
    expect(s.getState().cacheChecks.f).toEqual({ state: 'done', result });
    const failing = store({
      verifyCachedModel: vi.fn(async () => {
        throw new EngineError('not-ready', 'no storage', '');
      }),
    });
    await failing.getState().verifyCachedModel('g');
    expect(failing.getState().cacheChecks.g).toMatchObject({
      state: 'error',
      error: { message: 'no storage' },
    });
  });
});
