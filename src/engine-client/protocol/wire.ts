import { transferHandlers } from 'comlink';
import { EngineError, type EngineErrorInfo, toEngineError } from './errors';

interface WireError {
  isError: true;
  value: EngineErrorInfo & { name: string; stack?: string };
}

let installed = false;

/**
 * Makes errors thrown by the engine arrive on the page as EngineError with their kind and hint.
 * comlink's own handler keeps only name/message/stack; both ends of the channel must call this.
 */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const base = transferHandlers.get('throw');
  if (!base) throw new Error('comlink has no "throw" transfer handler');
  transferHandlers.set('throw', {
    canHandle: base.canHandle,
    serialize(thrown: unknown) {
      const e = toEngineError((thrown as { value: unknown }).value);
      const wire: WireError = {
        isError: true,
        value: { name: e.name, message: e.message, kind: e.kind, hint: e.hint, stack: e.stack },
      };
      return [wire, []];
    },
    deserialize(wire: unknown): never {
      const w = wire as WireError | { isError: false; value: unknown };
      if (!w.isError) throw toEngineError(w.value);
      const err = new EngineError(w.value.kind ?? 'internal', w.value.message, w.value.hint ?? '');
      if (w.value.stack) err.stack = w.value.stack;
      throw err;
    },
  });
}
