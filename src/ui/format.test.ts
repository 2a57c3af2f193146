import { describe, expect, it } from 'vitest';
import { formatBytes, formatError, formatMs, formatTime } from './format';

describe('format', () => {
  it('bytes', () => {
    expect(formatBytes(134217728)).toBe('128 MiB');
    expect(formatBytes(4294967296)).toBe('4 GiB');
    expect(formatBytes(16384)).toBe('16 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(100)).toBe('100 B');
  });
  it('errors', () => {
    expect(formatError(0)).toBe('0');
    expect(formatError(2.384e-7)).toBe('2.4e-7');
    expect(formatError(Number.NaN)).toBe('NaN');
  });
  it('milliseconds', () => {
    expect(formatMs(1.234)).toBe('1.2 ms');
    expect(formatMs(123.4)).toBe('123 ms');
    expect(formatMs(12345)).toBe('12.3 s');
  });
});

describe('formatTime', () => {
  it('shows the time today and the date before that', () => {
    const at = new Date(2026, 11, 5, 14, 5).getTime();
    expect(formatTime(at, new Date(2026, 11, 5, 20, 0).getTime())).toBe('14:05');
    expect(formatTime(at, new Date(2026, 11, 7, 9, 0).getTime())).toBe('5 Dec, 14:05');
  });
});
