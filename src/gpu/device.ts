import { GpuError, noWebGpuError } from './errors';

/** What the engine knows about the adapter it runs on; plain data, safe to post to the UI. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallback: boolean;
  /** true for CPU-emulated adapters (SwiftShader, llvmpipe): they pay heavily for barriers. */
  isSoftware: boolean;
  f16: boolean;
  subgroups: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  timestampQuery: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
  };
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  summary: AdapterSummary;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Turn off shader-f16 even where present (forces the f32 path; used by tests and by users). */
  disableF16?: boolean;
  /** Called when the device is lost (once) or raises an uncaptured error (each time, until lost). */
  onError?: (err: GpuError) => void;
  /**
   * Report a loss with reason 'destroyed' too, unless the device was given back with releaseDevice:
   * a destroy() by anything else (a test standing in for a driver reset) is then a loss like any other.
   */
  reportDestroyed?: boolean;
}

/** Devices destroyed on purpose (releaseDevice): their loss is not news. */
const released = new WeakSet<GPUDevice>();

/** Destroys a device on purpose (the engine's dispose), so its loss is not reported. */
export function releaseDevice(device: GPUDevice): void {
  released.add(device);
  device.destroy();
}

const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
] as const;

function isSoftwareAdapter(info: GPUAdapterInfo, isFallback: boolean): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return isFallback || /swiftshader|llvmpipe|lavapipe|software|microsoft basic/.test(text);
}

/** Gets an adapter and a device with every feature the engine can use and limits raised to the adapter's. */
export async function acquireDevice(
  gpu: GPU | undefined,
  opts: AcquireOptions = {},
): Promise<AcquiredDevice> {
  if (!gpu) throw noWebGpuError();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new GpuError(
      'no-adapter',
      'WebGPU is present but no GPU adapter is available.',
      'Update your GPU driver, or enable hardware acceleration in the browser settings.',
    );
  }
  const features: GPUFeatureName[] = [];
  const want: GPUFeatureName[] = ['subgroups' as GPUFeatureName, 'timestamp-query'];
  if (!opts.disableF16) want.push('shader-f16');
  for (const f of want) if (adapter.features.has(f)) features.push(f);

  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  } catch (e) {
    throw new GpuError('internal', `Could not create a GPU device: ${(e as Error).message}`);
  }
  const info = adapter.info;
  const isFallback = Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const l = device.limits;
  const summary: AdapterSummary = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallback,
    isSoftware: isSoftwareAdapter(info, isFallback),
    f16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups' as GPUFeatureName),
    subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
    subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
    timestampQuery: device.features.has('timestamp-query'),
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  };
  let isLost = false;
  const report = (err: GpuError) => {
    if (!isLost) opts.onError?.(err);
  };
  device.lost.then((lost) => {
    const quiet = lost.reason === 'destroyed' && (!opts.reportDestroyed || released.has(device));
    if (!quiet)
      report(
        new GpuError(
          'device-lost',
          `The GPU device was lost: ${lost.message || 'unknown reason'}`,
          'Reload the model to continue; your video and question are kept.',
        ),
      );
    // What a lost device raises afterwards (every call fails) says nothing new.
    isLost = true;
  });
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    const kind =
      e instanceof GPUOutOfMemoryError
        ? 'out-of-memory'
        : e instanceof GPUValidationError
          ? 'validation'
          : 'internal';
    report(
      new GpuError(
        kind,
        `GPU error: ${e.message}`,
        kind === 'out-of-memory' ? 'Close other GPU-heavy tabs or choose a smaller model.' : '',
      ),
    );
  });
  return { device, adapter, summary };
}
