/**
 * The fine-tune view's state without a GPU: run events fold into the view (a resumed step replaces a
 * logged one), a started run sends the training items and the held-out ones apart and ends in the
 * engine's final state, and a dataset survives a zip round trip with its held-out split.
 */
import { describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import type { Engine, TrainEvent, TrainStepMetrics } from '../../engine-client';
import { datasetZip, readDatasetFiles } from './dataset-files';
import { createFinetuneSlice, type FinetuneSlice, IDLE_RUN, reduceTrainEvent } from './finetune-slice';

const metrics = (step: number): TrainStepMetrics => ({
  step,
  loss: 0.5 / step,
  reward: -1 + step / 10,
  rewardStd: 0.3,
  accuracy: 0.5,
  formatRate: 1,
  kl: 0.01,
  completionLength: 20,
  gradNorm: 1,
  lr: 1e-4,
  stepMs: 900,
  ms: { rollout: 500, reward: 1, backward: 350, optimizer: 49 },
});

const item = (i: number) => ({
  problem: `Which way does the red square move? (${i})`,
  solution: '<answer>A</answer>',
  problem_id: i,
  video_filename: `clips/c${i}.mp4`,
  video: new Blob([new Uint8Array([i, i + 1, i + 2])]),
});

describe('fine-tune slice', () => {
  it('folds run events: state, prepare progress, steps (replacing a step logged before), checkpoints, held-out evaluations', () => {
    let s = {
      run: IDLE_RUN,
      log: [metrics(1), metrics(2)],
      completions: [],
      evalHistory: [] as FinetuneSlice['evalHistory'],
      evals: { before: null, after: null, running: null } as FinetuneSlice['evals'],
    };
    const apply = (e: TrainEvent) => {
      s = { ...s, ...reduceTrainEvent(s, e) } as typeof s;
    };
    apply({ type: 'state', state: 'preparing', step: 1, totalSteps: 5 });
    apply({ type: 'prepare', done: 1, total: 2 });
    expect(s.run).toMatchObject({ state: 'preparing', prepare: { done: 1, total: 2 }, totalSteps: 5 });
    apply({ type: 'step', metrics: metrics(2), completions: [] });
    expect(s.log.map((m) => m.step)).toEqual([1, 2]);
    expect(s.run.prepare).toBeNull();
    apply({ type: 'step', metrics: metrics(3), completions: [] });
    apply({ type: 'checkpoint', step: 3 });
    expect(s.log.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(s.run).toMatchObject({ step: 3, checkpoint: 3 });
    const result = (accuracy: number) => ({ adapter: 'x', accuracy, formatRate: 1, answers: [], ms: 1 });
    apply({ type: 'eval', step: 0, result: result(0.25) });
    apply({ type: 'eval', step: 3, result: result(0.75) });
    expect(s.evalHistory.map((p) => [p.step, p.accuracy])).toEqual([
      [0, 0.25],
      [3, 0.75],
    ]);
    expect([s.evals.before?.accuracy, s.evals.after?.accuracy]).toEqual([0.25, 0.75]);
  });

  it('starts a run with the training items and the held-out ones apart; the result is final', async () => {
    const trainStart = vi.fn(async (_items, settings, onEvent: (e: TrainEvent) => void, _heldOut) => {
      onEvent({ type: 'state', state: 'running', step: 0, totalSteps: settings.steps });
      onEvent({ type: 'step', metrics: metrics(1), completions: [] });
      return { state: 'done' as const, step: 1 };
    });
    const engine = { trainStart, trainSaved: vi.fn(async () => null) } as unknown as Engine;
    const store = createStore<FinetuneSlice>()((set, get) => createFinetuneSlice(() => engine, set, get));
    store.setState({ dataset: [0, 1, 2].map((i) => ({ ...item(i), heldOut: i === 2 })) });
    await store.getState().startRun();
    const [items, , , heldOut] = trainStart.mock.calls[0];
    expect(items.map((x: { problem_id: number }) => x.problem_id)).toEqual([0, 1]);
    expect(heldOut.map((x: { problem_id: number }) => x.problem_id)).toEqual([2]);
    expect(store.getState().run).toMatchObject({ state: 'done', step: 1 });
    expect(store.getState().log.length).toBe(1);
  });

  it('adds hand-written questions about one video in the paper’s form', () => {
    const store = createStore<FinetuneSlice>()((set, get) =>
      createFinetuneSlice(() => ({}) as Engine, set, get),
    );
    const video = new File([new Uint8Array([1])], 'walk.mp4');
    store.getState().addItem(video, 'Where does the dog go?', ['left', 'right'], 'B', false);
    store.getState().addItem(video, 'Is it raining?', [], 'A', true);
    const [a, b] = store.getState().dataset;
    expect(a.problem).toBe('Where does the dog go?\nOptions:\nA. left\nB. right');
    expect(a.solution).toBe('<answer>B</answer>');
    expect([a.video_filename, a.video, a.heldOut]).toEqual(['walk.mp4', video, false]);
    expect([b.problem, b.heldOut]).toEqual(['Is it raining?', true]);
    expect(a.problem_id).not.toBe(b.problem_id);
  });

  it('writes a dataset as a zip of JSONL and clips and reads it back with its held-out split', async () => {
    const items = [0, 1].map((i) => ({ ...item(i), heldOut: i === 1 }));
    const jsonl = items
      .map(({ video: _v, heldOut, ...it }) => JSON.stringify(heldOut ? { ...it, split: 'heldout' } : it))
      .join('\n');
    const zip = new File([await datasetZip(jsonl, items)], 'dataset.zip');
    const parse = async (text: string) => text.split('\n').map((l) => JSON.parse(l));
    const back = await readDatasetFiles([zip], parse);
    expect(back.map((b) => [b.problem_id, b.heldOut])).toEqual([
      [0, false],
      [1, true],
    ]);
    expect(new Uint8Array(await back[1].video.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    await expect(readDatasetFiles([new File([jsonl], 'd.jsonl')], parse)).rejects.toThrow(
      /2 clips are missing/,
    );
  });
});
