/// <reference lib="webworker" />
// The engine worker: owns the GPUDevice; the page reaches it only through src/engine-client.
import { expose } from 'comlink';
import { installErrorTransfer } from '../engine-client/protocol';
import { createEngine } from './engine';

installErrorTransfer();
expose(createEngine());
