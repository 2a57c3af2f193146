/**
 * An engine that stops by itself (its worker ended): the store says so, starts a new engine without a
 * second self-test, loads the last model and video into it, and keeps the video shown meanwhile. An
 * engine terminated on purpose is not restarted (the client does not report it: client.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import type { AdapterSummary, EngineClient, LoadedVideo, ModelInfo } from '../engine-client';
import { connectEngine, EngineError } from '../engine-client';
import { createAppStore } from './store';

function fakeEngine() {
  let stopped: ((e: EngineError) => void) | null = null;
  const engine = {
    init: vi.fn(async () => ({ vendor: 'v' }) as AdapterSummary),
    selfTest: vi.fn(async () => []),
    loadModel: vi.fn(async () => ({ name: 'tiny' }) as ModelInfo),
    cachedModels: vi.fn(async () => []),
    loadVideo: vi.fn(async () => ({ key: 1, thumbnails: [] }) as unknown as LoadedVideo),
    onStopped: (l: (e: EngineError) => void) => {
      stopped = l;
    },
  };
  return { engine: engine as unknown as EngineClient, mock: engine, stop: (e: EngineError) => stopped?.(e) };
}

describe('app store: an engine that stops', () => {
  it('starts a new engine and loads the model and the video again', async () => {
    const engines = [fakeEngine(), fakeEngine()];
    let made = 0;
    const store = createAppStore(() => engines[made++].engine);
    await store.getState().start();
    const file = new File([new Uint8Array(4)], 'clip.mp4');
    await store.getState().loadModel({ kind: 'url', baseUrl: 'http://x/m/' }, 'the demo');
    await store.getState().loadVideo({ kind: 'file', file });
    expect(store.getState().video).not.toBeNull();

    engines[0].stop(new EngineError('worker-crashed', 'The engine stopped unexpectedly.', ''));
    expect(store.getState().deviceError?.message).toMatch(/stopped unexpectedly/);
    expect(store.getState().video).not.toBeNull(); // kept on the page while the new engine starts
    await vi.waitFor(() => expect(store.getState().deviceRecovery?.state).toBe('recovered'));
    expect(made).toBe(2);
    const next = engines[1].mock;
    expect(next.selfTest).not.toHaveBeenCalled(); // the adapter was checked once already
    expect((next.loadModel.mock.calls[0] as unknown[])[0]).toEqual({ kind: 'url', baseUrl: 'http://x/m/' });
    expect((next.loadVideo.mock.calls[0] as unknown[])[0]).toEqual({ kind: 'file', file });
    expect(store.getState().deviceRecovery?.message).toMatch(
      /tiny was loaded again.*video and conversation are kept/,
    );
    expect(store.getState().deviceError).toBeNull();
    expect(store.getState().model?.name).toBe('tiny');
  });

  it('the client reports a stop, but not one asked for with terminate()', async () => {
    const crash = () => {
      let end!: (e: EngineError) => void;
      const crashed = new Promise<EngineError>((r) => {
        end = r;
      });
      return { crashed, end: () => end(new EngineError('worker-crashed', 'gone', '')) };
    };
    const a = crash();
    const heard: string[] = [];
    const one = connectEngine(new MessageChannel().port1, a.crashed);
    one.onStopped((e) => heard.push(e.kind));
    const pending = one.modelInfo();
    a.end();
    await expect(pending).rejects.toMatchObject({ kind: 'worker-crashed' });
    expect(heard).toEqual(['worker-crashed']);

    const b = crash();
    const two = connectEngine(new MessageChannel().port1, b.crashed, () => b.end());
    two.onStopped((e) => heard.push(`again ${e.kind}`));
    two.terminate();
    await b.crashed;
    await new Promise((r) => setTimeout(r, 0));
    expect(heard).toEqual(['worker-crashed']);
  });
});
