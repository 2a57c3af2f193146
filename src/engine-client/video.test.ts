import { describe, expect, it, vi } from 'vitest';
import { VideoError } from '../video/errors';
import { type Engine, EngineError, type LoadedVideo, type VideoLoadResult } from './protocol';
import { loadVideo } from './video';

// The <video> element needs the DOM: here it is a stand-in that captures one frame per slot, or fails.
const element = vi.hoisted(() => ({ fail: null as Error | null }));
vi.mock('../video/element-sampler', () => ({
  async sampleWithElement(
    _src: unknown,
    plan: { seekTimesUs: number[] },
    hooks: { onProgress?: (f: number) => void },
  ) {
    if (element.fail) throw element.fail;
    hooks.onProgress?.(1);
    return plan.seekTimesUs.map((t) => ({ t, close() {} }));
  },
}));

const video = { key: 3, thumbnails: [] } as unknown as LoadedVideo;
const needsElement: VideoLoadResult = {
  status: 'needs-element',
  facts: { codec: 'hevc', codecString: 'hev1.1.6.L93.B0' } as never,
  reason: "this browser's VideoDecoder cannot decode hev1.1.6.L93.B0",
  plan: { seekTimesUs: [0, 1000], lastFrameUs: 1000 } as never,
};

function fakeEngine(answer: (jobId: string) => Promise<VideoLoadResult>) {
  return {
    videoLoad: vi.fn(async (jobId: string) => answer(jobId)),
    videoSupplyFrames: vi.fn(async (_jobId: string, frames: unknown[]) => ({
      ...video,
      indices: frames.map((_, i) => i),
    })),
    videoCancel: vi.fn(async () => {}),
  } satisfies Partial<Engine>;
}
const asEngine = (e: ReturnType<typeof fakeEngine>) => e as unknown as Engine;
const source = { kind: 'url', url: 'http://x/v.mp4' } as const;
const settings = { method: { kind: 'uniform', n: 2 } } as const;

describe('loadVideo on the page', () => {
  it('resolves with the video the worker decoded', async () => {
    const engine = fakeEngine(async () => ({ status: 'loaded', video }));
    await expect(loadVideo(asEngine(engine), source, settings)).resolves.toBe(video);
    expect(engine.videoSupplyFrames).not.toHaveBeenCalled();
  });

  it('captures the frames with the <video> element when the worker asks, and hands them over', async () => {
    element.fail = null;
    const engine = fakeEngine(async () => needsElement);
    const reasons: string[] = [];
    const phases: string[] = [];
    const loaded = await loadVideo(asEngine(engine), source, settings, {
      onFallback: (r) => reasons.push(r),
      onProgress: (p) => phases.push(p.phase),
    });
    expect(reasons).toEqual([needsElement.reason]);
    expect(phases).toEqual(['element']);
    expect(loaded.indices).toEqual([0, 1]);
    const jobId = engine.videoLoad.mock.calls[0][0];
    expect(engine.videoSupplyFrames.mock.calls[0][0]).toBe(jobId);
  });

  it('says both reasons when the <video> element cannot play it either', async () => {
    element.fail = new VideoError(
      'unsupported-codec',
      "The browser's <video> element cannot play it either (x).",
    );
    const engine = fakeEngine(async () => needsElement);
    const err = await loadVideo(asEngine(engine), source, settings).catch((e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.kind).toBe('unsupported-codec');
    expect(err.message).toBe(
      "No decoder for hev1.1.6.L93.B0 here: this browser's VideoDecoder cannot decode hev1.1.6.L93.B0, and the browser's <video> element cannot play it either (x).",
    );
    expect(err.hint).toMatch(/^Convert the video to H\.264/);
  });

  it('aborting cancels the same job in the worker; errors keep their kind', async () => {
    const abort = new AbortController();
    const engine = fakeEngine(
      () =>
        new Promise((_, reject) => {
          abort.signal.addEventListener('abort', () =>
            reject(new VideoError('cancelled', 'Decoding was cancelled.')),
          );
        }),
    );
    const done = loadVideo(asEngine(engine), source, settings, { signal: abort.signal }).catch((e) => e);
    abort.abort();
    const err = await done;
    expect(engine.videoCancel).toHaveBeenCalledWith(engine.videoLoad.mock.calls[0][0]);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ kind: 'cancelled', message: 'Decoding was cancelled.' });
  });
});
