import {
  type DeviceRecovery,
  type EngineErrorInfo,
  type EngineMemory,
  errorInfo,
  type GpuCommands,
  type InitOptions,
  type ModelInfo,
} from '../engine-client/protocol';
import { GpuContext } from '../gpu/context';
import { acquireDevice, releaseDevice } from '../gpu/device';
import { runSelfTest } from '../gpu/selftest';
import type { EngineSession } from './session';

/** Tries at getting a new device after a loss (a driver reset may take a moment), and the wait between. */
const RECOVERY_TRIES = 3;
const RECOVERY_WAIT_MS = 500;

interface Listeners {
  options: InitOptions;
  onDeviceError?: (error: EngineErrorInfo) => void;
  onRecovery?: (recovery: DeviceRecovery) => void;
}

export function gpuCommands(session: EngineSession): GpuCommands {
  let starting: Promise<GpuContext> | null = null;
  let listeners: Listeners = { options: {} };

  function start(): Promise<GpuContext> {
    const { options, onDeviceError } = listeners;
    let mine: GpuContext | null = null;
    return acquireDevice(session.env.gpu(), {
      disableF16: options.disableF16,
      powerPreference: options.powerPreference,
      // Any loss we did not ask for (a driver reset, a destroy() from elsewhere) is recovered from.
      reportDestroyed: true,
      onError: (e) => {
        onDeviceError?.(errorInfo(e));
        if (e.kind === 'device-lost') void recover(mine);
      },
    }).then(({ device, summary }) => {
      mine = new GpuContext(device, summary);
      session.ctx = mine;
      return mine;
    });
  }

  /** A new device, then each device user rebuilds on it (the model is reloaded); told step by step. */
  async function recover(lost: GpuContext | null): Promise<void> {
    if (!lost || session.ctx !== lost) return; // disposed, or already recovering
    const { onRecovery } = listeners;
    session.ctx = null;
    starting = null;
    for (const u of session.deviceUsers) u.lost();
    lost.destroy();
    onRecovery?.({
      state: 'recovering',
      message: 'The GPU device was lost. Getting a new one and reloading the model…',
    });
    try {
      let ctx: GpuContext | null = null;
      for (let i = 0; !ctx; i++) {
        try {
          starting = start();
          ctx = await starting;
        } catch (e) {
          starting = null;
          if (i + 1 >= RECOVERY_TRIES) throw e;
          await new Promise((r) => setTimeout(r, RECOVERY_WAIT_MS * 2 ** i));
        }
      }
      let model: ModelInfo | null = null;
      for (const u of session.deviceUsers) model = (await u.restore(ctx)) ?? model;
      const from = model?.cached === 'read' ? ' from the offline copy' : model ? ' from its source' : '';
      onRecovery?.({
        state: 'recovered',
        message: `The GPU device was lost and a new one is ready${model ? `; ${model.name} was reloaded${from}` : ''}. Your video and conversation are kept: ask again.`,
        ...(model ? { model } : {}),
      });
    } catch (e) {
      onRecovery?.({
        state: 'failed',
        message: 'The GPU device was lost and could not be recovered.',
        error: errorInfo(e),
      });
    }
  }

  return {
    async init(options = {}, onDeviceError, onRecovery) {
      if (!starting) {
        listeners = { options, onDeviceError, onRecovery };
        starting = start();
      }
      // A failed start may be retried (e.g. after the user enables WebGPU).
      starting.catch(() => {
        starting = null;
      });
      return (await starting).summary;
    },

    async selfTest(onResult) {
      return runSelfTest(session.gpu(), onResult);
    },

    async dispose() {
      const ctx = session.ctx;
      session.ctx = null;
      starting = null;
      if (!ctx) return;
      ctx.destroy();
      releaseDevice(ctx.device);
    },

    async memory(): Promise<EngineMemory> {
      const ctx = session.ctx;
      if (!ctx) return { gpuBytes: 0, gpuBuffers: 0, pooledBytes: 0 };
      await ctx.sync();
      const before = ctx.memory.bytes;
      ctx.pool.trim();
      return {
        gpuBytes: ctx.memory.bytes,
        gpuBuffers: ctx.memory.buffers,
        pooledBytes: before - ctx.memory.bytes,
      };
    },
  };
}
