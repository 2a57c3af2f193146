/**
 * The engine's typed contract, its one home: the page talks to it through comlink (src/engine-client),
 * the worker implements it (src/worker), tests call an in-thread engine (createEngine) with the same
 * interface. Every command returns a Promise; callbacks (progress, results, errors) are top-level
 * function arguments, which the client proxies. Thrown errors arrive as EngineError {kind, message, hint}.
 *
 * Each command group (model.ts, video.ts; later generate, train) has its own interface beside this
 * file and joins the `Engine` intersection; each is implemented in its own module under src/worker.
 * errors.ts is the error type, wire.ts makes it survive the channel.
 */
import type { AdapterSummary } from '../../gpu/device';
import type { SelfTestProgress, SelfTestResult } from '../../gpu/selftest';
import type { EngineErrorInfo } from './errors';
import type { ModelCommands, ModelInfo } from './model';
import type { TrainCommands } from './train';
import type { VideoCommands } from './video';

export type { AdapterSummary } from '../../gpu/device';
export type { SelfTestProgress, SelfTestResult } from '../../gpu/selftest';
export {
  EngineError,
  type EngineErrorInfo,
  type EngineErrorKind,
  errorInfo,
  type ModelErrorKind,
  toEngineError,
} from './errors';
export type * from './model';
export type * from './train';
export { DEFAULT_TRAIN_SETTINGS, settingsProblems } from './train';
export type * from './video';
export { installErrorTransfer } from './wire';

export interface InitOptions {
  /** Use the f32 path even where shader-f16 exists. */
  disableF16?: boolean;
  powerPreference?: GPUPowerPreference;
}

/**
 * After the device is lost, the engine gets a new one and reloads the model (from the offline copy
 * when there is one); the video's frames and the page's conversation are kept. A question running at
 * the loss ends with an error; ask again once recovered.
 */
export interface DeviceRecovery {
  state: 'recovering' | 'recovered' | 'failed';
  message: string;
  /** The model as reloaded (recovered; absent when none was loaded). */
  model?: ModelInfo;
  error?: EngineErrorInfo;
}

/** The GPU: acquire the device, describe it, check every kernel against its CPU reference. */
export interface GpuCommands {
  /**
   * Acquires the adapter and device (once; later calls return the same summary).
   * `onDeviceError` fires when the device is lost (once per device) or raises an uncaptured error
   * (each time); `onRecovery` follows the recovery from a loss (DeviceRecovery).
   */
  init(
    options?: InitOptions,
    onDeviceError?: (error: EngineErrorInfo) => void,
    onRecovery?: (recovery: DeviceRecovery) => void,
  ): Promise<AdapterSummary>;
  /** Runs each kernel family / variant / dtype on random inputs against its CPU reference. */
  selfTest(
    onResult?: (result: SelfTestResult, progress: SelfTestProgress) => void,
  ): Promise<SelfTestResult[]>;
  /** Releases the device (the engine can be initialised again afterwards). */
  dispose(): Promise<void>;
  /**
   * What the engine holds on the GPU: every live buffer, counted from createBuffer to destroy(), after
   * the work submitted so far has finished and the buffer pool's free scratch is given back (the soak's
   * sample). Call it between commands. Zeros before init.
   */
  memory(): Promise<EngineMemory>;
}

export interface EngineMemory {
  /** Live GPU buffers' bytes and count once the pool's free ones are destroyed. */
  gpuBytes: number;
  gpuBuffers: number;
  /** Bytes that were in the pool's free lists (given back by this call). */
  pooledBytes: number;
}

export type Engine = GpuCommands & ModelCommands & VideoCommands & TrainCommands;
