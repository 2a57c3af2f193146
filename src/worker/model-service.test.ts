/**
 * The model commands in-thread on Dawn: load a fixture from "picked files", ask with the golden
 * frames (greedy, dump) and compare with the PyTorch goldens, stream events, stop mid-stream, and
 * refuse broken checkpoints with a clear error while the loaded model keeps answering.
 */
import { describe, expect, it } from 'vitest';
import type { AskEvent, ModelSource } from '../engine-client/protocol';
import { EngineError } from '../engine-client/protocol';
import { firstMismatch } from '../gpu/compare';
import { ctx } from '../gpu/testing/kernel-suite';
import { BAD_CASES, badCheckpoint, EXPECTED_MESSAGE, expectedKind } from '../model/testing/bad-checkpoints';
import {
  asPickedFiles,
  fixtureFiles,
  readGoldenFrames,
  readGoldenIndex,
  readGoldenTensor,
} from '../model/testing/goldens';
import { modelCommands } from './model-service';
import { EngineSession } from './session';

const session = new EngineSession({ gpu: () => undefined });
session.ctx = ctx;
const model = modelCommands(session);
const REL = ctx.actDtype === 'f32' ? 2e-4 : 3e-2;

const asSource = (files: Map<string, Uint8Array>): ModelSource => ({
  kind: 'files',
  files: asPickedFiles(files),
});

function closeRel(name: string, actual: Float32Array, golden: Float32Array) {
  let scale = 0;
  for (const v of golden) scale = Math.max(scale, Math.abs(v));
  expect(firstMismatch(actual, golden, { atol: REL * scale, rtol: 0 }), name).toBeNull();
}

describe(`model commands (${ctx.actDtype})`, () => {
  const index = readGoldenIndex('tiny-b');
  const pixels = { data: readGoldenFrames(index), shape: index.frames.shape };
  const question = {
    question: 'Which way does the bright disc move?',
    options: ['left to right', 'right to left', 'it does not move', 'up and down'],
  };
  const good = fixtureFiles('tiny-b');

  it('refuses to answer before a model is loaded', async () => {
    await expect(model.ask(question)).rejects.toMatchObject({ kind: 'no-model' });
    expect(await model.modelInfo()).toBeNull();
  });

  it('loads picked files and describes the model', async () => {
    const phases = new Set<string>();
    const info = await model.loadModel(asSource(good), (p) => phases.add(p.phase));
    expect([...phases]).toEqual(['open', 'tokenizer', 'upload']);
    // 'auto' keeps a small model's weights at full precision.
    expect(info).toMatchObject({ modelType: 'tinyllava', dtype: ctx.actDtype, quantized: false });
    expect(info.config.vision.imageSize).toBe(112);
    expect(info.config.connector.numQueries).toBe(64);
    expect(info.parameters).toBeGreaterThan(151936 * 64);
    expect(info.bytesOnGpu).toBeGreaterThan(info.parameters * (ctx.actDtype === 'f16' ? 2 : 4) - 1);
    expect(await model.modelInfo()).toEqual(info);
  });

  it('answers from the golden frames as the PyTorch reference does (greedy, dump)', async () => {
    const events: AskEvent[] = [];
    const r = await model.ask(
      { ...question, pixels, sampling: { temperature: 0, maxNewTokens: 8 }, dump: true },
      (e) => events.push(e),
    );
    const d = r.dump!;
    expect(d.promptIds).toEqual([index.prompt.part0Ids, index.prompt.part1Ids]);
    expect(d.shapes.visionFeatures).toEqual(index.tensors.visionFeatures.shape);
    closeRel('vision', d.visionFeatures!, readGoldenTensor('tiny-b', index.tensors.visionFeatures));
    closeRel('connector', d.connectorOutput!, readGoldenTensor('tiny-b', index.tensors.connectorOutput));
    const golden = readGoldenTensor('tiny-b', index.tensors.logits);
    const V = index.tensors.logits.shape[1];
    expect(d.logits.length).toBe(8);
    d.logits.forEach((row, k) => {
      closeRel(`logits ${k}`, row, golden.subarray(k * V, (k + 1) * V));
    });
    if (ctx.actDtype === 'f32') expect(r.ids).toEqual(index.decode.greedyIds.slice(0, 8));
    expect(r.stats).toMatchObject({ newTokens: 8, stoppedBy: 'length', promptTokens: 161, visualTokens: 64 });

    const kinds = events.map((e) => (e.type === 'phase' ? `${e.phase}:${e.state}` : e.type));
    expect(kinds.filter((k) => k.includes(':'))).toEqual([
      'preprocess:start',
      'preprocess:end',
      'vision:start',
      'vision:end',
      'connector:start',
      'connector:end',
      'prefill:start',
      'prefill:end',
      'decode:start',
      'decode:end',
    ]);
    expect(kinds[0]).toBe('start');
    expect(kinds.filter((k) => k === 'token')).toHaveLength(8);
    expect(kinds.at(-1)).toBe('stats');
    const done = events.find((e) => e.type === 'reasoning' && e.event.type === 'done');
    expect(done).toBeDefined();
  });

  it('runs text only when there is no video, and stops mid-stream', async () => {
    let tokens = 0;
    const r = await model.ask({ question: 'Say something.', sampling: { maxNewTokens: 500 } }, (e) => {
      if (e.type === 'token' && ++tokens === 3) void model.stop();
      if (e.type === 'start') expect(e.visual).toBe('none');
    });
    expect(r.stats.stoppedBy).toBe('cancel');
    expect(r.stats.visualTokens).toBe(0);
    expect(r.ids.length).toBeGreaterThanOrEqual(3);
    expect(r.ids.length).toBeLessThan(10);
  });

  it('rejects a second question while one runs', async () => {
    const first = model.ask({ question: 'one', sampling: { maxNewTokens: 4 } });
    await expect(model.ask({ question: 'two' })).rejects.toMatchObject({ kind: 'busy' });
    await first;
  });

  it('rejects bad sampling settings and an empty question', async () => {
    await expect(model.ask({ question: 'x', sampling: { topP: 2 } })).rejects.toMatchObject({
      kind: 'bad-request',
    });
    await expect(model.ask({ question: '  ' })).rejects.toMatchObject({ kind: 'bad-request' });
  });

  for (const bad of BAD_CASES) {
    it(`refuses a checkpoint with a ${bad} and keeps the loaded model`, async () => {
      const before = await model.modelInfo();
      const err = await model.loadModel(asSource(badCheckpoint(good, bad))).catch((e) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect(err.kind).toBe(expectedKind(bad));
      expect(err.message).toMatch(EXPECTED_MESSAGE[bad]);
      expect(err.hint).not.toBe('');
      expect(await model.modelInfo()).toEqual(before);
      const r = await model.ask({ question: 'still there?', sampling: { temperature: 0, maxNewTokens: 2 } });
      expect(r.ids.length).toBe(2);
    });
  }

  it('swaps to another model once it loaded (4-bit on request)', async () => {
    const info = await model.loadModel(asSource(fixtureFiles('tiny-a')), undefined, { weights: 'q4' });
    expect(info.config.vision.imageSize).toBe(384);
    expect(info.quantized).toBe(true);
    const r = await model.ask({ question: 'q4?', sampling: { temperature: 0, maxNewTokens: 2 } });
    expect(r.ids).toHaveLength(2);
    expect((await model.modelInfo())?.config.vision.imageSize).toBe(384);
    // Pixels of the old model's size are refused with the size named.
    await expect(model.ask({ question: 'q', pixels })).rejects.toMatchObject({ kind: 'bad-request' });
  });
});
