import { EngineError, type ModelInfo } from '../engine-client/protocol';
import type { GpuContext } from '../gpu/context';
import type { StorageLike } from './model-cache';
import type { LoadedModel } from './model-load';

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

/**
 * A command group's part in recovering from a lost device: `lost` drops (synchronously) what it holds
 * on the old device; `restore` rebuilds it on the new one (the model service reloads its model and
 * returns its info).
 */
export interface DeviceUser {
  lost(): void;
  restore(ctx: GpuContext): Promise<ModelInfo | null>;
}

/** State shared by the engine's command groups: the GPU context and, later, model and video. */
export class EngineSession {
  ctx: GpuContext | null = null;
  /** The loaded model (set by the model service when it swaps one in). */
  loaded: LoadedModel | null = null;
  /** Set while fine-tuning holds the GPU: what to tell a question or a load that must wait. */
  busy: string | null = null;
  /** Settles when the last question ends (fine-tuning waits for it before taking the GPU). */
  askDone: Promise<void> = Promise.resolve();
  /** What lives on the device, told when it is lost and when a new one replaces it (gpu-commands). */
  readonly deviceUsers: DeviceUser[] = [];
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

  /** Throws 'busy' while fine-tuning holds the GPU. */
  checkIdle(what: string): void {
    if (this.busy)
      throw new EngineError(
        'busy',
        `${what} waits: ${this.busy}.`,
        'Pause or stop the fine-tuning run first.',
      );
  }
}
