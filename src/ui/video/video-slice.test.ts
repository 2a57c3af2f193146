import { describe, expect, it } from 'vitest';
import { createStore } from 'zustand/vanilla';
import type { EngineClient, LoadVideoHooks, VisionProgress } from '../../engine-client';
import { createVideoSlice, keepLatest, type VideoSlice, visionLabel } from './video-slice';

const progress = (p: Partial<VisionProgress>): VisionProgress => ({
  videoKey: 1,
  framesDone: 0,
  frames: 16,
  state: 'running',
  preprocessMs: 0,
  visionMs: 0,
  ...p,
});

describe('vision progress in the video slice', () => {
  it('labels: frames done while running, ready when done, nothing once cancelled', () => {
    expect(visionLabel(undefined)).toBeNull();
    expect(visionLabel(progress({ framesDone: 8 }))).toBe('vision 8/16 frames');
    expect(visionLabel(progress({ framesDone: 16, state: 'done' }))).toBe('vision ready (16 frames)');
    expect(visionLabel(progress({ state: 'cancelled' }))).toBeNull();
    expect(visionLabel(progress({ state: 'error', message: 'boom' }))).toBe('vision failed: boom');
  });

  it('keeps the latest few keys', () => {
    expect(Object.keys(keepLatest({ 1: 'a', 5: 'b', 3: 'c', 9: 'd' }, 2))).toEqual(['5', '9']);
  });

  it('records events per video key, and the load learns its key from the first progress event', async () => {
    let release!: () => void;
    const engine = {
      async loadVideo(_s: unknown, _settings: unknown, hooks?: LoadVideoHooks) {
        hooks?.onProgress?.({ phase: 'open', fraction: 0, videoKey: 7 });
        await new Promise<void>((r) => {
          release = r;
        });
        throw Object.assign(new Error('stop'), { kind: 'cancelled' });
      },
    } as unknown as EngineClient;
    const store = createStore<VideoSlice>()((set, get) => createVideoSlice(() => engine, set, get));
    const done = store.getState().loadVideo({ kind: 'url', url: 'http://x/v.mp4' });
    await Promise.resolve();
    expect(store.getState().videoLoad?.videoKey).toBe(7);
    store.getState().onVisionProgress(progress({ videoKey: 7, framesDone: 4 }));
    store.getState().onVisionProgress(progress({ videoKey: 7, framesDone: 8 }));
    expect(store.getState().vision[7].framesDone).toBe(8);
    release();
    await done;
  });
});
