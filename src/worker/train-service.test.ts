/**
 * The fine-tune commands on Dawn with an in-memory OPFS and an untrained model of the demo's toy
 * architecture: a GRPO run streams step events with finite metrics and G scored completions, holds the
 * GPU (a question is refused meanwhile), pauses with a checkpoint, and a fresh engine over the same
 * storage (a reload) resumes from that step to the end; the adapter is saved, renamed, exported as
 * PEFT files, imported back (the same bytes) and merged for questions; evaluation scores answers.
 * Clips are raw RGBA frames here (WebCodecs is the browser's; the e2e spec covers that path).
 */
import { describe, expect, it } from 'vitest';
import { demoFiles } from '../../scripts/rl/demo-model';
import type { TrainEvent, TrainSettings } from '../engine-client/protocol';
import { DEFAULT_TRAIN_SETTINGS } from '../engine-client/protocol';
import { ctx } from '../gpu/testing/kernel-suite';
import { isQuantized } from '../model/gpu-weights';
import { PREFIX } from '../model/weight-manifest';
import { modelCommands } from './model-service';
import { EngineSession } from './session';
import { fakeStorage } from './testing/fake-opfs';
import { clipPixels, squaresItems } from './testing/squares-data';
import { trainCommands } from './train-service';

const rawPixels = clipPixels(ctx);
const items = squaresItems;

const SETTINGS: TrainSettings = {
  ...DEFAULT_TRAIN_SETTINGS,
  steps: 3,
  num_generations: 2,
  max_completion_length: 6,
  frames: 4,
  learning_rate: 1e-2,
};

async function engine(storage: ReturnType<typeof fakeStorage>['storage'], weights: 'full' | 'q4' = 'full') {
  const session = new EngineSession({ gpu: () => undefined, storage: () => storage });
  session.ctx = ctx;
  const model = modelCommands(session);
  const files = [...demoFiles(new Map(), 128)].map(([name, data]) => new File([data as BlobPart], name));
  await model.loadModel({ kind: 'files', files }, undefined, { weights });
  return { session, model, train: trainCommands(session, rawPixels) };
}

describe(`fine-tune commands (${ctx.actDtype})`, () => {
  const { storage } = fakeStorage({ quota: 1e9 });
  const data = items(2, 5);
  const heldOut = items(1, 6);

  it('runs GRPO steps with metrics and completions, refuses questions meanwhile, pauses at a checkpoint', async () => {
    const { model, train } = await engine(storage);
    const events: TrainEvent[] = [];
    let refused = '';
    const result = await train.trainStart(
      data,
      { ...SETTINGS, eval_every: 1 },
      (e) => {
        events.push(e);
        if (e.type === 'step' && e.metrics.step === 1) {
          void train.trainPause();
          model.ask({ question: 'hi', visual: 'text' }).catch((err) => {
            refused = (err as Error).message;
          });
        }
      },
      heldOut,
    );
    expect(result).toEqual({ state: 'paused', step: 1 });
    expect(refused).toMatch(/fine-tuning holds the GPU/);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.length).toBe(1);
    const s = steps[0] as TrainEvent & { type: 'step' };
    for (const k of ['loss', 'reward', 'rewardStd', 'kl', 'completionLength', 'stepMs'] as const)
      expect(Number.isFinite(s.metrics[k])).toBe(true);
    expect(s.completions.length).toBe(2);
    for (const c of s.completions) expect(c.reward).toBeGreaterThanOrEqual(-2);
    expect(events.filter((e) => e.type === 'prepare').length).toBe(3);
    // The held-out clip: the base before step 1, the adapter after it.
    const evals = events.filter((e) => e.type === 'eval');
    expect(evals.map((e) => [e.step, e.result.adapter, e.result.answers.length])).toEqual([
      [0, 'base', 1],
      [1, 'training', 1],
    ]);
    expect(events.some((e) => e.type === 'checkpoint' && e.step === 1)).toBe(true);
    const saved = await train.trainSaved();
    expect(saved?.step).toBe(1);
    expect(saved?.log.length).toBe(1);
    // The GPU is free again: a question runs.
    const answer = await model.ask({ question: 'hi', visual: 'text', sampling: { maxNewTokens: 2 } });
    expect(answer.stats.newTokens).toBeGreaterThan(0);
  }, 120_000);

  it('resumes the saved run after a reload and finishes it; the adapter round-trips through PEFT files', async () => {
    const { train } = await engine(storage);
    expect((await train.trainSavedItems()).map((x) => x.heldOut)).toEqual([false, false, true]);
    const events: TrainEvent[] = [];
    const result = await train.trainResume((e) => events.push(e));
    expect(result).toEqual({ state: 'done', step: 3 });
    expect(
      events.filter((e) => e.type === 'step').map((e) => (e as { metrics: { step: number } }).metrics.step),
    ).toEqual([2, 3]);
    expect((await train.trainSaved())?.log.map((m) => m.step)).toEqual([1, 2, 3]);

    const a = await train.adapterSave('first');
    expect(a.name).toBe('first');
    expect(a.step).toBe(3);
    expect((await train.adapterRename(a.id, 'squares')).name).toBe('squares');
    const files = await train.adapterExport(a.id);
    expect(files.map((f) => f.name).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const b = await train.adapterImport(files, 'again');
    const again = await train.adapterExport(b.id);
    const weights = (fs: typeof files) => fs.find((f) => f.name === 'adapter_model.safetensors')!.data;
    expect(weights(again)).toEqual(weights(files));
    expect((await train.adapterList()).map((x) => x.name).sort()).toEqual(['again', 'squares']);

    const base = await train.trainEvaluate(data, 'base', 6);
    const tuned = await train.trainEvaluate(data, a.id, 6);
    expect(base.answers.length).toBe(2);
    expect(tuned.adapter).toBe(a.id);
    await train.adapterUse(a.id);
    expect(await train.adapterActive()).toBe(a.id);
    await train.adapterDelete(a.id);
    expect(await train.adapterActive()).toBe(null);
    // Cold-start SFT on the same items (their templated reasoning, then the answer) starts a new run.
    const sft: TrainEvent[] = [];
    const withThink = data.map((it) => ({ ...it, think: 'The square moves.' }));
    expect(
      await train.trainStart(withThink, { ...SETTINGS, mode: 'sft', steps: 2 }, (e) => sft.push(e)),
    ).toEqual({
      state: 'done',
      step: 2,
    });
    const losses = sft.flatMap((e) => (e.type === 'step' ? [e.metrics.loss] : []));
    expect(losses.length).toBe(2);
    for (const l of losses) expect(l).toBeGreaterThan(0);
    await expect(
      train.adapterImport([{ name: 'adapter_config.json', data: new TextEncoder().encode('{') }], 'bad'),
    ).rejects.toThrow(/do not fit/);
  }, 120_000);

  it('fine-tunes a model loaded 4-bit (LoRA over the frozen 4-bit base)', async () => {
    const { session, train } = await engine(fakeStorage({ quota: 1e9 }).storage, 'q4');
    const w = session.loaded!.model.weights.scope(PREFIX.text);
    expect(isQuantized(w.linear('model.layers.0.mlp.down_proj.weight'))).toBe(true);
    expect(w.table('model.embed_tokens.weight').every(isQuantized)).toBe(true);
    const events: TrainEvent[] = [];
    expect(await train.trainStart(data, { ...SETTINGS, steps: 1 }, (e) => events.push(e))).toEqual({
      state: 'done',
      step: 1,
    });
    const steps = events.flatMap((e) => (e.type === 'step' ? [e.metrics] : []));
    expect(steps.length).toBe(1);
    for (const k of ['loss', 'reward', 'kl', 'completionLength'] as const)
      expect(Number.isFinite(steps[0][k])).toBe(true);
    // The estimate counts the policy's copy of the layers at their 4-bit size.
    const plain = await engine(fakeStorage({ quota: 1e9 }).storage);
    const bytes = (await train.trainEstimate(SETTINGS)).gpuBytes;
    const plainBytes = (await plain.train.trainEstimate(SETTINGS)).gpuBytes;
    const layers = (e: EngineSession) =>
      e.loaded!.model.weights.bytesWhere((n) => n.startsWith(`${PREFIX.text}model.layers.`));
    expect(layers(session)).toBeLessThan(layers(plain.session) / 2);
    // At most the 4-bit layers' bytes (their fused projections only) instead of the plain layers'.
    expect(plainBytes - bytes).toBeGreaterThanOrEqual(layers(plain.session) - layers(session));
    expect(plainBytes - bytes).toBeLessThan(layers(plain.session));
  }, 120_000);
});
