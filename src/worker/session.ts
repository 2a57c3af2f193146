import { EngineError } from '../engine-client/protocol';
import type { GpuContext } from '../gpu/context';
import type { StorageLike } from './model-cache';

/**
 * Where the engine finds WebGPU (navigator.gpu in browsers and workers, Dawn in Node tests) and the
 * storage of the offline model cache (navigator.storage with OPFS; absent: no cache).
 */
export interface EngineEnv {
  gpu(): GPU | undefined;
  storage?(): StorageLike | undefined;
}

export const browserEnv: EngineEnv = {
  gpu: () => (globalThis.navigator as Navigator | undefined)?.gpu,
  storage: () => {
    const s = (globalThis.navigator as Navigator | undefined)?.storage;
    return typeof s?.getDirectory === 'function' ? s : undefined;
  },
};

/** State shared by the engine's command groups: the GPU context and, later, model and video. */
export class EngineSession {
  ctx: GpuContext | null = null;
  constructor(readonly env: EngineEnv) {}

  /** The GPU context, or a 'not-ready' error before init(). */
  gpu(): GpuContext {
    if (!this.ctx)
      throw new EngineError(
        'not-ready',
        'The GPU is not initialised yet.',
        'Wait for the adapter to be ready.',
      );
    return this.ctx;
  }
}
