/// <reference lib="webworker" />
// The engine worker: owns the GPUDevice; the page reaches it only through src/engine-client.
import { expose } from 'comlink';
import { installErrorTransfer } from '../engine-client/protocol';
import { createEngine } from './engine';

installErrorTransfer();
expose(createEngine());
// Held for the worker's life: the page learns of its end, however it comes, when the lock frees.
if (self.name.startsWith('engine-') && navigator.locks)
  void navigator.locks.request(self.name, () => new Promise(() => {}));
