/**
 * Vision ahead of the question, in-thread on Dawn with the tiny-a fixture: the model service and a
 * VisionHub whose preprocessing copies golden pixels (Node has no VideoFrame). Checks that vision runs
 * after a model load on the loaded video, that a question waits for a streamed job instead of
 * recomputing, that its features are bit-equal to the sequential path's, and that cancelling drops
 * the work and frees the buffers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { AskEvent, AskRequest, ModelSource, VisionProgress } from '../engine-client/protocol';
import type { FrameSource } from '../gpu/frames-to-tensor';
import { ctx } from '../gpu/testing/kernel-suite';
import type { FramePreprocess } from '../model/preprocess';
import { asPickedFiles, fixtureFiles, readGoldenFrames, readGoldenIndex } from '../model/testing/goldens';
import { modelCommands } from './model-service';
import type { VideoFrames } from './model-video';
import { EngineSession } from './session';
import { VisionHub } from './video-vision';

const session = new EngineSession({ gpu: () => undefined });
session.ctx = ctx;

const fixtureSource = (name: string): ModelSource => ({
  kind: 'files',
  files: asPickedFiles(fixtureFiles(name)),
});

// Fake frames: { i } picks golden frame i % 4. The preprocessing uploads that frame's pixels.
const index = readGoldenIndex('tiny-a');
const golden = readGoldenFrames(index);
const [, , S] = index.frames.shape;
const plane = 3 * S * S;
const frame = (i: number) => ({ i, close() {} }) as unknown as FrameSource;
let preprocessed = 0;
let gate: Promise<void> = Promise.resolve();
const preprocess: FramePreprocess = async (c, f, out, row) => {
  await gate;
  preprocessed++;
  const i = (f as unknown as { i: number }).i % 4;
  const px = c.upload(golden.subarray(i * plane, (i + 1) * plane), [1, 3, S, S], c.actDtype);
  c.copyRegion(px, 0, out, row * px.byteLength, px.byteLength);
  c.release(px);
};

const hub = new VisionHub(() => ctx, preprocess);
let video: VideoFrames | null = null;
const model = modelCommands(session, () => video, hub);
const events: VisionProgress[] = [];
hub.watch((p) => void events.push(p));

const frames6 = Array.from({ length: 6 }, (_, i) => frame(i));
const pixelsOf = (n: number) => {
  const data = new Float32Array(n * plane);
  for (let f = 0; f < n; f++) data.set(golden.subarray((f % 4) * plane, ((f % 4) + 1) * plane), f * plane);
  return { data, shape: [n, 3, S, S] as [number, number, number, number] };
};
const question: AskRequest = {
  question: 'What moves?',
  sampling: { temperature: 0, maxNewTokens: 2 },
  dump: true,
};
const settle = () => new Promise((r) => setTimeout(r, 0));

describe(`vision ahead (${ctx.actDtype})`, () => {
  afterAll(() => {
    hub.dropModel(1);
  });

  it('runs on the loaded video right after a model load; the question only waits', async () => {
    video = { key: 1, frames: frames6, decodeMs: 0 };
    hub.currentVideo = () => ({ key: 1, frames: frames6 });
    await model.loadModel(fixtureSource('tiny-a'));
    const job = hub.job(1, 1)!;
    expect(job).toBeDefined();
    await job.ready;
    expect(preprocessed).toBe(6);
    expect(events.filter((e) => e.videoKey === 1).map((e) => [e.state, e.framesDone])).toEqual([
      ['running', 0],
      ['running', 4],
      ['done', 6],
    ]);

    const phases: AskEvent[] = [];
    const ahead = await model.ask(question, (e) => void (e.type === 'phase' && phases.push(e)));
    expect(preprocessed).toBe(6); // no second preprocessing, no second tower
    expect(ahead.stats.stages.visionAhead).toMatchObject({ frames: 6 });
    expect(ahead.stats.stages.preprocessMs).toBe(0);
    expect(phases.find((p) => p.type === 'phase' && p.phase === 'vision' && p.state === 'end')).toMatchObject(
      {
        ahead: true,
      },
    );

    // The sequential path on the same pixels: bit-equal features, the same answer.
    const seq = await model.ask({ ...question, pixels: pixelsOf(6) });
    expect(seq.stats.stages.visionAhead).toBeUndefined();
    const a = ahead.dump!.visionFeatures!;
    const b = seq.dump!.visionFeatures!;
    expect(a.length).toBe(b.length);
    expect(a.every((v, i) => Object.is(v, b[i]))).toBe(true);
    expect(ahead.ids).toEqual(seq.ids);
  });

  it('streamed frame by frame: a question asked mid-way waits for the rest (no double work)', async () => {
    let open!: () => void;
    gate = new Promise((r) => {
      open = r;
    });
    preprocessed = 0;
    const job = hub.begin(2, 5)!;
    for (const i of [4, 1, 0]) job.addFrame(i, frame(i), true);
    video = { key: 2, frames: Array.from({ length: 5 }, (_, i) => frame(i)), decodeMs: 0 };
    const asked = model.ask(question);
    await settle();
    open();
    await settle();
    for (const i of [3, 2]) job.addFrame(i, frame(i), true);
    const r = await asked;
    expect(preprocessed).toBe(5);
    expect(r.stats.stages.visionAhead?.frames).toBe(5);
    expect(r.stats.stages.visionAhead!.waitMs).toBeGreaterThan(0);
    expect(events.filter((e) => e.videoKey === 2).at(-1)).toMatchObject({ state: 'done', framesDone: 5 });
  });

  it('cancelling a video drops queued frames, rejects waiters and frees the buffers', async () => {
    preprocessed = 0;
    const job = hub.begin(3, 6)!;
    for (const i of [0, 1]) job.addFrame(i, frame(i), true);
    hub.cancelVideo(3);
    for (const i of [2, 3, 4, 5]) job.addFrame(i, frame(i), true);
    await expect(job.ready).rejects.toMatchObject({ kind: 'cancelled' });
    await settle();
    await new Promise((r) => setTimeout(r, 20));
    expect(job.stream.isDisposed).toBe(true);
    expect(preprocessed).toBeLessThanOrEqual(1); // at most the frame already in flight
    expect(hub.job(1, 3)).toBeUndefined();
    expect(events.filter((e) => e.videoKey === 3).at(-1)?.state).toBe('cancelled');
  });
});
