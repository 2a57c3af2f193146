/**
 * Starting the engine worker from a page on another origin (the embeddable widget). A browser refuses
 * `new Worker(url)` when `url` is cross-origin, so the worker starts from a same-origin blob: URL whose
 * one line imports the engine's module from the app's origin (served with CORS). The bundler gives the
 * built worker file's URL (`?worker&url`); relative to this module, so it follows wherever the app lives.
 */
import engineWorkerUrl from '../worker/engine.worker.ts?worker&url';
import { connectEngine, type EngineClient } from './client';
import { EngineError } from './protocol';

/** The engine worker script's absolute URL (on the app's origin). */
export function engineWorkerScript(): string {
  return new URL(engineWorkerUrl, import.meta.url).href;
}

/** A module worker running `scriptUrl`, wherever it lives: direct when same-origin, else via a blob. */
export function startModuleWorker(scriptUrl: string, name: string): { worker: Worker; revoke: () => void } {
  if (new URL(scriptUrl).origin === globalThis.location?.origin)
    return { worker: new Worker(scriptUrl, { type: 'module', name }), revoke: () => {} };
  const blob = new Blob([`import ${JSON.stringify(scriptUrl)};\n`], { type: 'text/javascript' });
  const blobUrl = URL.createObjectURL(blob);
  return {
    worker: new Worker(blobUrl, { type: 'module', name }),
    revoke: () => URL.revokeObjectURL(blobUrl),
  };
}

/** The engine's client, its worker started so that it works from any origin. */
export function createCrossOriginEngineClient(): EngineClient {
  const { worker, revoke } = startModuleWorker(engineWorkerScript(), 'engine');
  const crashed = new Promise<EngineError>((resolve) => {
    worker.addEventListener('error', (ev) => {
      resolve(
        new EngineError(
          'worker-crashed',
          `The engine worker stopped: ${ev.message || 'failed to load (is the app origin serving it with CORS?)'}`,
          'Reload the page; if it persists, check that the widget script and the app are on the same version.',
        ),
      );
    });
  });
  return connectEngine(worker, crashed, () => {
    worker.terminate();
    revoke();
  });
}
