/**
 * The load plan on a real device with lowered limits (WebGPU cannot make a device smaller than its
 * 128 MiB defaults, so the plan takes the limits as data): tiny-b's vocabulary table (151936 × 64)
 * over a 4 MiB binding loads in parts and answers with the same logits, bit for bit, plain and 4-bit
 * (the converted folder);
 * a memory budget below the estimate gets a shorter context and says so; one far below is refused
 * with the numbers, and the loaded model stays.
 */
import { describe, expect, it } from 'vitest';
import type { AskRequest, ModelSource } from '../engine-client/protocol';
import { ctx } from '../gpu/testing/kernel-suite';
import { convertFixture } from '../model/testing/convert';
import { asPickedFiles, fixtureFiles } from '../model/testing/goldens';
import { modelCommands } from './model-service';
import { EngineSession } from './session';

const session = new EngineSession({ gpu: () => undefined });
session.ctx = ctx;
const model = modelCommands(session);
const plain: ModelSource = { kind: 'files', files: asPickedFiles(fixtureFiles('tiny-b')) };
let conv: ModelSource | undefined;
const converted = async (): Promise<ModelSource> => {
  conv ??= { kind: 'files', files: asPickedFiles((await convertFixture('tiny-b')).files) };
  return conv;
};
// Text only: the split tables are what the embedding gather and the LM head read; no vision needed.
const request: AskRequest = {
  question: 'Which way does the bright disc move?',
  visual: 'text',
  sampling: { temperature: 0, maxNewTokens: 3 },
  dump: true,
};
const MiB = 2 ** 20;

/** The largest buffer uploaded while `run` runs (the loader uploads each table part on its own). */
async function largestUpload<T>(run: () => Promise<T>): Promise<[T, number]> {
  const upload = ctx.upload;
  let largest = 0;
  ctx.upload = (data, ...rest) => {
    largest = Math.max(largest, data.byteLength);
    return upload.call(ctx, data, ...rest);
  };
  try {
    return [await run(), largest];
  } finally {
    ctx.upload = upload;
  }
}
const low = { maxStorageBufferBindingSize: 4 * MiB, maxBufferSize: 256 * MiB };

describe(`load plan on the device (${ctx.actDtype})`, () => {
  for (const weights of ['full', 'q4'] as const) {
    it(`${weights}: the table split to fit a 4 MiB binding gives the same logits`, async () => {
      // 4-bit: the converted folder (what the offline copy holds), faster to load than quantizing.
      const source = weights === 'q4' ? await converted() : plain;
      const [whole, wholeMax] = await largestUpload(() => model.loadModel(source, undefined, { weights }));
      expect(whole.fit?.tables).toEqual([]);
      expect(wholeMax).toBeGreaterThan(4 * MiB);
      const a = await model.ask(request);
      const [split, splitMax] = await largestUpload(() =>
        model.loadModel(source, undefined, { weights, limits: low }),
      );
      expect(splitMax).toBeLessThanOrEqual(4 * MiB);
      // Rows of 64 values: 32768 per part in f16, 16384 in f32; packed 4-bit (32 bytes): 131072.
      const parts = weights === 'q4' ? 2 : ctx.actDtype === 'f16' ? 5 : 10;
      // tiny-b's lm_head is its own table (not tied): both split.
      expect(split.fit?.tables).toEqual(
        ['model.embed_tokens.weight', 'lm_head.weight'].map((n) => ({ name: `language_model.${n}`, parts })),
      );
      const b = await model.ask(request);
      expect(b.ids).toEqual(a.ids);
      expect(b.dump!.logits.length).toBe(3);
      for (const [k, row] of b.dump!.logits.entries()) expect(row, `logits ${k}`).toEqual(a.dump!.logits[k]);
    });
  }

  it('shortens the context to fit a memory budget, and refuses one far too small', async () => {
    const full = await model.loadModel(plain, undefined, { weights: 'full' });
    const budget = full.fit!.estimatedBytes - 1;
    const fitted = await model.loadModel(plain, undefined, { weights: 'full', gpuMemoryBudget: budget });
    expect(fitted.fit!.maxLength).toBeLessThan(full.fit!.maxLength);
    expect(fitted.config.maxLength).toBe(fitted.fit!.maxLength);
    expect(fitted.fit!.estimatedBytes).toBeLessThanOrEqual(budget);
    expect(fitted.fit!.notes.join(' ')).toMatch(/^Context shortened to \d+ tokens \(from \d+\) to fit/);
    expect(fitted.bytesOnGpu).toBeLessThan(full.bytesOnGpu);
    const r = await model.ask(request);
    expect(r.stats.newTokens).toBe(3);

    await expect(
      model.loadModel(plain, undefined, { weights: 'full', gpuMemoryBudget: 1e6 }),
    ).rejects.toMatchObject({
      kind: 'out-of-memory',
      message: expect.stringMatching(
        /needs about 0\.\d\d GB of GPU memory \(weights .*\) even with a \d+-token context and 1 frame per pass; 0\.00 GB is available/,
      ),
    });
    expect(await model.modelInfo()).toEqual(fitted);
  });
});
