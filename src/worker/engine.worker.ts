/// <reference lib="webworker" />
// The engine worker: owns the GPUDevice; the page reaches it only through src/engine-client.
import { expose } from 'comlink';
import { installErrorTransfer } from '../engine-client/protocol';
import { createEngine } from './engine';

installErrorTransfer();
const engine = createEngine();
expose(engine);
// Also on the worker's global, for its devtools console and e2e specs (e.g. `await engine.memory()`);
// only the worker's own code and a debugger can reach it.
(self as unknown as { engine: typeof engine }).engine = engine;
// Held for the worker's life: the page learns of its end, however it comes, when the lock frees.
if (self.name.startsWith('engine-') && navigator.locks)
  void navigator.locks.request(self.name, () => new Promise(() => {}));
