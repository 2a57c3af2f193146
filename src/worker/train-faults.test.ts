/**
 * Faults during fine-tuning, at the engine level on Dawn with an in-memory OPFS (issue 15):
 * - browser storage runs out while a checkpoint is written: the run stops saying so, the half-written
 *   checkpoint is removed, the one before stays the resume point, and Resume (space freed) finishes;
 * - the GPU device is destroyed mid-run: the run stops with a device-lost message, the engine gets a new
 *   device and reloads the model, and Resume continues from the last checkpoint to the end.
 */
import { describe, expect, it } from 'vitest';
import { create, globals } from 'webgpu';
import { demoFiles } from '../../scripts/rl/demo-model';
import type { DeviceRecovery, EngineErrorInfo, TrainEvent, TrainSettings } from '../engine-client/protocol';
import { DEFAULT_TRAIN_SETTINGS } from '../engine-client/protocol';
import { ctx } from '../gpu/testing/kernel-suite';
import { gpuCommands } from './gpu-commands';
import { modelCommands } from './model-service';
import { EngineSession } from './session';
import { type FakeDir, fakeStorage } from './testing/fake-opfs';
import { clipPixels, squaresItems } from './testing/squares-data';
import type { ClipPixels } from './train-data';
import { trainCommands } from './train-service';

const SETTINGS: TrainSettings = {
  ...DEFAULT_TRAIN_SETTINGS,
  steps: 4,
  num_generations: 2,
  max_completion_length: 4,
  frames: 4,
  eval_every: 0,
  checkpoint_every: 1,
};
const modelFiles = () => [...demoFiles(new Map(), 64)].map(([n, d]) => new File([d as BlobPart], n));
const stepsOf = (events: TrainEvent[]) => events.flatMap((e) => (e.type === 'step' ? [e.metrics.step] : []));
const runFolder = (root: FakeDir) =>
  root
    .paths()
    .filter((p) => p.startsWith('finetune/run/') && !p.includes('/videos'))
    .sort();

describe(`fine-tune faults (${ctx.actDtype})`, () => {
  it('storage full mid-checkpoint: the run stops saying so, the previous checkpoint resumes', async () => {
    const budget = { quota: 1e9 };
    const { storage, root } = fakeStorage(budget);
    const session = new EngineSession({ gpu: () => undefined, storage: () => storage });
    session.ctx = ctx;
    const model = modelCommands(session);
    await model.loadModel({ kind: 'files', files: modelFiles() }, undefined, { weights: 'full' });
    const train = trainCommands(session, clipPixels(ctx));
    const events: TrainEvent[] = [];
    const run = train.trainStart(squaresItems(2, 3), SETTINGS, (e) => {
      events.push(e);
      // After step 1's checkpoint, room for a few hundred bytes more: step 2's checkpoint fails mid-way.
      if (e.type === 'checkpoint' && e.step === 1) budget.quota = root.bytes() + 300;
    });
    const err = (await run.catch((e) => e)) as EngineErrorInfo;
    expect(err.kind).toBe('storage-full');
    expect(err.message).toMatch(/checkpoint of step 2 could not be saved/);
    expect(err.message).toMatch(/step 1 is kept/);
    expect(events.at(-1)).toMatchObject({ type: 'state', state: 'error' });
    // Nothing half-written is left; latest.json still names step 1.
    expect(runFolder(root).filter((p) => p.includes('ckpt-2'))).toEqual([]);
    expect((await train.trainSaved())?.step).toBe(1);
    // The GPU is free again, and a question runs.
    expect(session.busy).toBe(null);

    budget.quota = 1e9; // the user freed space
    const resumed: TrainEvent[] = [];
    expect(await train.trainResume((e) => resumed.push(e))).toEqual({ state: 'done', step: 4 });
    expect(stepsOf(resumed)).toEqual([2, 3, 4]);
    expect((await train.trainSaved())?.log.map((m) => m.step)).toEqual([1, 2, 3, 4]);
  }, 180_000);

  it('device destroyed mid-run: stops with device-lost, recovers, resumes from the last checkpoint', async () => {
    Object.assign(globalThis, globals);
    const gpu = create([]) as unknown as GPU;
    const { storage } = fakeStorage({ quota: 1e9 });
    const session = new EngineSession({ gpu: () => gpu, storage: () => storage });
    const g = gpuCommands(session);
    const model = modelCommands(session);
    const recovery: DeviceRecovery[] = [];
    await g.init(
      { disableF16: process.env.GPU_DISABLE_F16 === '1' },
      () => {},
      (r) => recovery.push(r),
    );
    // The clip pixels go to whichever context is current (a new one after the loss).
    const pixels: ClipPixels = (m, v, f) => clipPixels(session.gpu())(m, v, f);
    const train = trainCommands(session, pixels);
    try {
      await model.loadModel({ kind: 'files', files: modelFiles() }, undefined, { weights: 'full' });
      const first = session.ctx!;
      const events: TrainEvent[] = [];
      const run = train.trainStart(squaresItems(2, 3), SETTINGS, (e) => {
        events.push(e);
        if (e.type === 'checkpoint' && e.step === 2) first.device.destroy();
      });
      const err = (await run.catch((e) => e)) as EngineErrorInfo;
      expect(err.kind).toBe('device-lost');
      expect(err.message).toMatch(/GPU device was lost at step 3/);
      expect(err.hint).toMatch(/Resume continues from the last checkpoint/);
      expect(events.at(-1)).toMatchObject({ type: 'state', state: 'error' });
      await expect.poll(() => recovery.at(-1)?.state, { timeout: 60_000 }).toBe('recovered');
      expect(session.ctx).not.toBe(first);

      const resumed: TrainEvent[] = [];
      expect(await train.trainResume((e) => resumed.push(e))).toEqual({ state: 'done', step: 4 });
      expect(stepsOf(resumed)).toEqual([3, 4]);
      for (const e of resumed) if (e.type === 'step') expect(Number.isFinite(e.metrics.loss)).toBe(true);
    } finally {
      await g.dispose();
    }
  }, 180_000);
});
