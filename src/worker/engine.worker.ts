/// <reference lib="webworker" />
// The engine worker: owns the GPUDevice; the page reaches it only through src/engine-client.
import { expose } from 'comlink';
import { createEngine } from './engine';
import { installErrorTransfer } from './wire';

installErrorTransfer();
expose(createEngine());
