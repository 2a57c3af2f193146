import { GpuError, type GpuErrorKind } from '../../gpu/errors';
import type { VideoErrorKind } from '../../video/errors';

/**
 * Errors that cross the worker boundary: a kind the UI can switch on, a message, and a hint saying
 * what the user can do. GPU kinds come from src/gpu/errors.ts; the rest are the engine's own.
 */
export type EngineErrorKind = GpuErrorKind | 'not-ready' | 'worker-crashed' | ModelErrorKind | VideoErrorKind;

/** The model commands' kinds (mapped from the model layer's errors in model-errors.ts). */
export type ModelErrorKind =
  | 'model-not-found'
  | 'model-invalid'
  | 'model-unsupported'
  | 'network'
  | 'no-model'
  | 'busy'
  | 'cancelled'
  | 'bad-request';

/** Plain-data form of an EngineError (what the UI keeps in its store). */
export interface EngineErrorInfo {
  kind: EngineErrorKind;
  message: string;
  hint: string;
}

export class EngineError extends Error {
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

/** Anything thrown inside the engine, as an EngineError (unknown throws become 'internal'). */
export function toEngineError(e: unknown): EngineError {
  if (e instanceof EngineError) return e;
  if (e instanceof GpuError) return new EngineError(e.kind, e.message, e.hint);
  if (e instanceof Error) return new EngineError('internal', e.message);
  return new EngineError('internal', String(e));
}

/** The plain-data form of anything thrown, for stores and logs. */
export function errorInfo(e: unknown): EngineErrorInfo {
  if (isErrorInfo(e)) return { kind: e.kind, message: e.message, hint: e.hint };
  return toEngineError(e).toInfo();
}

function isErrorInfo(e: unknown): e is EngineErrorInfo {
  const o = e as Partial<EngineErrorInfo> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.kind === 'string' &&
    typeof o.message === 'string' &&
    typeof o.hint === 'string'
  );
}
