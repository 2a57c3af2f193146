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
  /** Called once if the engine stops by itself (crashed, or its worker was terminated or closed). */
  onStopped(listener: (error: EngineError) => void): void;
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
  /** terminate() was called: the worker's end is then not news to onStopped's listeners. */
  let onPurpose = false;
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
      if (key === 'terminate')
        return () => {
          onPurpose = true;
          terminate();
        };
      if (key === 'onStopped')
        return (listener: (e: EngineError) => void) =>
          void crashed?.then((e) => {
            if (!onPurpose) listener(e);
          });
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
  // The worker holds a Web Lock of its own name while it lives (engine.worker.ts): it is released when
  // the worker ends in any way, even one that fires no event here (terminated, closed, killed).
  const name = `engine-${crypto.randomUUID()}`;
  const worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), {
    type: 'module',
    name,
  });
  const crashed = new Promise<EngineError>((resolve) => {
    void outlive(name).then((ok) => {
      if (ok)
        resolve(
          new EngineError(
            'worker-crashed',
            'The engine stopped unexpectedly (its worker ended).',
            'A new engine is started; the video and the conversation are kept.',
          ),
        );
    });
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

/**
 * Resolves true once the worker holding the lock `name` has ended: waits for it to take the lock (up
 * to 30 s of start-up; false if it never does, e.g. without Web Locks), then for the lock to come free.
 */
async function outlive(name: string): Promise<boolean> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return false;
  for (let waited = 0; ; waited += 100) {
    const { held = [] } = await locks.query();
    if (held.some((l) => l.name === name)) break;
    if (waited > 30_000) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return locks.request(name, async () => true);
}
