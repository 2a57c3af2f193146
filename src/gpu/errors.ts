/** Typed GPU errors: the UI shows `message` and, where present, `hint` (what the user can do). */
export type GpuErrorKind =
  | 'no-webgpu'
  | 'no-adapter'
  | 'device-lost'
  | 'validation'
  | 'out-of-memory'
  | 'internal';

export class GpuError extends Error {
  readonly kind: GpuErrorKind;
  readonly hint: string;
  constructor(kind: GpuErrorKind, message: string, hint = '') {
    super(message);
    this.name = 'GpuError';
    this.kind = kind;
    this.hint = hint;
  }
}

export const WEBGPU_BROWSERS =
  'Chrome or Edge 113+ (desktop), Chrome 121+ on Android, Safari 26+, or Firefox 141+ on Windows';

export function noWebGpuError(): GpuError {
  return new GpuError(
    'no-webgpu',
    'This browser does not support WebGPU.',
    `Open the app in ${WEBGPU_BROWSERS}. On Linux Chrome, enable chrome://flags/#enable-unsafe-webgpu.`,
  );
}
