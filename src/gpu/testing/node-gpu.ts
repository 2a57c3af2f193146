/**
 * Node-only: a GpuContext on Dawn (npm `webgpu`). The adapter is whatever VK_ICD_FILENAMES points at
 * (lavapipe 25 or SwiftShader, see scripts/setup-test-env.mjs). No adapter is a hard failure.
 */
import { create, globals } from 'webgpu';
import { GpuContext } from '../context';
import { acquireDevice } from '../device';

let gpu: GPU | null = null;

/** Uncaptured GPU errors (WGSL compile errors, validation) seen so far; tests assert it stays empty. */
export const gpuErrors: string[] = [];

export async function nodeGpuContext(opts: { disableF16?: boolean } = {}): Promise<GpuContext> {
  Object.assign(globalThis, globals);
  gpu ??= create([]) as unknown as GPU;
  const { device, summary } = await acquireDevice(gpu, {
    disableF16: opts.disableF16 ?? process.env.GPU_DISABLE_F16 === '1',
    onError: (e) => {
      gpuErrors.push(`${e.kind}: ${e.message}`);
      console.error(`[gpu] ${e.kind}: ${e.message}`);
    },
  });
  return new GpuContext(device, summary);
}

/** Destroys the device and drops Dawn so Node can exit. */
export function closeNodeGpu(ctx: GpuContext | undefined): void {
  ctx?.destroy();
  ctx?.device.destroy();
  gpu = null;
}

export function adapterName(ctx: GpuContext): string {
  const s = ctx.summary;
  return [s.vendor, s.architecture, s.device, s.description].filter(Boolean).join(' ') || 'unknown adapter';
}
