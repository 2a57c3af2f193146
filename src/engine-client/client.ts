import { type Endpoint, proxy, wrap } from 'comlink';
import type { Engine, LoadedVideo, VideoSettings, VideoSource } from './protocol';
import { EngineError, installErrorTransfer } from './protocol';
import { type LoadVideoHooks, loadVideo } from './video';

export interface EngineClient extends Engine {
  /**
   * Loads a video and resolves with it, whichever path decoded it: the worker's WebCodecs pipeline,
   * or the <video> element on this page where WebCodecs cannot decode the codec (`videoLoad`'s
   * 'needs-element' round trip, done here). Abort `hooks.signal` to cancel.
   */
  loadVideo(source: VideoSource, settings: VideoSettings, hooks?: LoadVideoHooks): Promise<LoadedVideo>;
  /** Stops the worker (the GPU device goes with it). */
  terminate(): void;
}

/**
 * The engine behind a comlink endpoint, typed as Engine. Function arguments are proxied (they run on
 * this side when the engine calls them); calls reject with EngineError when the engine throws, and
 * with kind 'worker-crashed' once `crashed` settles.
 */
export function connectEngine(
  endpoint: Endpoint,
  crashed?: Promise<EngineError>,
  terminate = () => {},
): EngineClient {
  installErrorTransfer();
  const remote = wrap<Engine>(endpoint) as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  const crash = crashed?.then((e) => Promise.reject(e));
  crash?.catch(() => {}); // observed per call below
  const call =
    (name: string) =>
    (...args: unknown[]) => {
      const result = remote[name](...args.map((a) => (typeof a === 'function' ? proxy(a) : a)));
      return crash ? Promise.race([result, crash]) : result;
    };
  const client: EngineClient = new Proxy({} as EngineClient, {
    get(_, key) {
      if (key === 'terminate') return terminate;
      if (key === 'loadVideo')
        return (...args: Parameters<EngineClient['loadVideo']>) => loadVideo(client, ...args);
      // Not a thenable, whatever the engine exposes (await client must not call the worker).
      if (typeof key !== 'string' || key === 'then') return undefined;
      return call(key);
    },
  });
  return client;
}

/** Starts the engine worker and returns its typed client. */
export function createEngineClient(): EngineClient {
  const worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), {
    type: 'module',
    name: 'engine',
  });
  const crashed = new Promise<EngineError>((resolve) => {
    worker.addEventListener('error', (ev) => {
      resolve(
        new EngineError(
          'worker-crashed',
          `The engine worker stopped: ${ev.message || 'failed to load'}`,
          'Reload the page.',
        ),
      );
    });
  });
  return connectEngine(worker, crashed, () => worker.terminate());
}
