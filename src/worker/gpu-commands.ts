import { errorInfo, type GpuCommands } from '../engine-client/protocol';
import { GpuContext } from '../gpu/context';
import { acquireDevice } from '../gpu/device';
import { runSelfTest } from '../gpu/selftest';
import type { EngineSession } from './session';

export function gpuCommands(session: EngineSession): GpuCommands {
  let starting: Promise<GpuContext> | null = null;

  return {
    async init(options = {}, onDeviceError) {
      starting ??= acquireDevice(session.env.gpu(), {
        disableF16: options.disableF16,
        powerPreference: options.powerPreference,
        onError: (e) => onDeviceError?.(errorInfo(e)),
      }).then(({ device, summary }) => {
        session.ctx = new GpuContext(device, summary);
        return session.ctx;
      });
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
      ctx.device.destroy();
    },
  };
}
