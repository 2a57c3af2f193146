import { describe, expect, it } from 'vitest';
import { GpuError } from '../../gpu/errors';
import { VideoError } from '../../video/errors';
import { EngineError, errorInfo, toEngineError } from './errors';

describe('the one error shape', () => {
  it("keeps the kind, message and hint of every layer's error", () => {
    const gpu = toEngineError(new GpuError('no-adapter', 'no adapter', 'try another browser'));
    expect(gpu).toBeInstanceOf(EngineError);
    expect(gpu.toInfo()).toEqual({ kind: 'no-adapter', message: 'no adapter', hint: 'try another browser' });
    expect(errorInfo(new VideoError('corrupt', 'bad data'))).toEqual({
      kind: 'corrupt',
      message: 'bad data',
      hint: '',
    });
    expect(errorInfo({ kind: 'busy', message: 'busy', hint: 'wait' })).toEqual({
      kind: 'busy',
      message: 'busy',
      hint: 'wait',
    });
  });

  it('turns anything else into internal', () => {
    const e = new EngineError('not-ready', 'x');
    expect(toEngineError(e)).toBe(e);
    expect(errorInfo(new TypeError('oops'))).toEqual({ kind: 'internal', message: 'oops', hint: '' });
    expect(errorInfo('text')).toEqual({ kind: 'internal', message: 'text', hint: '' });
    expect(errorInfo({ kind: 'x' })).toMatchObject({ kind: 'internal' });
  });
});
