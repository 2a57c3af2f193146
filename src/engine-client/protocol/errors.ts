import type { GpuErrorKind } from '../../gpu/errors';
import type { VideoErrorKind } from '../../video/errors';

/**
 * Errors that cross the worker boundary: a kind the UI can switch on, a message, and a hint saying
 * what the user can do. GPU and video kinds come from their layers (src/gpu/errors.ts,
 * src/video/errors.ts); the rest are the engine's own.
 */
export type EngineErrorKind = GpuErrorKind | 'not-ready' | 'worker-crashed' | ModelErrorKind | VideoErrorKind;

/** The model commands' kinds (mapped from the model layer's errors in src/worker/model-errors.ts). */
export type ModelErrorKind =
  | 'model-not-found'
  | 'model-invalid'
  | 'model-unsupported'
  | 'network'
  | 'no-model'
  | 'busy'
  | 'cancelled'
  | 'bad-request'
  /** Browser storage (OPFS) too small for the offline copy of a model, or it ran out while writing. */
  | 'storage-full';

/**
 * The one error shape, as plain data (what the UI keeps in its store). EngineError carries it; the
 * layers below throw their own small classes with the same three fields (GpuError, VideoError, which
 * import nothing of ours), and toEngineError keeps their kind and hint.
 */
export interface EngineErrorInfo {
  kind: EngineErrorKind;
  message: string;
  hint: string;
}

export class EngineError extends Error implements EngineErrorInfo {
  readonly kind: EngineErrorKind;
  readonly hint: string;
  constructor(kind: EngineErrorKind, message: string, hint = '') {
    super(message);
    this.name = 'EngineError';
    this.kind = kind;
    this.hint = hint;
  }

  toInfo(): EngineErrorInfo {
    return { kind: this.kind, message: this.message, hint: this.hint };
  }
}

/**
 * Anything thrown, as an EngineError: anything with the error shape (GpuError, VideoError, plain
 * data) keeps its kind, message and hint; other throws become 'internal'.
 */
export function toEngineError(e: unknown): EngineError {
  if (e instanceof EngineError) return e;
  if (hasErrorShape(e)) return new EngineError(e.kind, e.message, e.hint);
  if (e instanceof Error) return new EngineError('internal', e.message);
  return new EngineError('internal', String(e));
}

/** The plain-data form of anything thrown, for stores and logs. */
export function errorInfo(e: unknown): EngineErrorInfo {
  return toEngineError(e).toInfo();
}

function hasErrorShape(e: unknown): e is EngineErrorInfo {
  const o = e as Partial<Record<keyof EngineErrorInfo, unknown>> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.kind === 'string' &&
    typeof o.message === 'string' &&
    typeof o.hint === 'string'
  );
}
