import { describe, expect, it } from 'vitest';
import { formatDuration, formatFps, formatTimestamp } from './video-format';
import { overallProgress } from './video-slice';

describe('video formatting', () => {
  it('timestamps', () => {
    expect(formatTimestamp(0)).toBe('0:00.000');
    expect(formatTimestamp(83_333)).toBe('0:00.083');
    expect(formatTimestamp(61_500_000)).toBe('1:01.500');
    expect(formatTimestamp(3_725_000_000)).toBe('1:02:05.000');
  });
  it('durations and rates', () => {
    expect(formatDuration(8.7255)).toBe('8.73 s');
    expect(formatDuration(600)).toBe('10:00.000');
    expect(formatFps(29.97002997)).toBe('29.97 fps');
  });
  it('progress across phases', () => {
    expect(overallProgress(null)).toBe(0);
    expect(overallProgress({ phase: 'open', fraction: 1 })).toBeCloseTo(0.05);
    expect(overallProgress({ phase: 'decode', fraction: 0.5 })).toBeCloseTo(0.5);
    expect(overallProgress({ phase: 'thumbnails', fraction: 1 })).toBe(1);
  });
});
