import { describe, expect, it } from 'vitest';
import { numberAttr } from './settings';

describe('numberAttr', () => {
  it('reads, clamps and falls back', () => {
    expect(numberAttr('8', 16, 1, 64)).toBe(8);
    expect(numberAttr('0.7', 0.1, 0, 2)).toBe(0.7);
    expect(numberAttr('500', 16, 1, 64)).toBe(64);
    expect(numberAttr('-3', 16, 1, 64)).toBe(1);
    expect(numberAttr(null, 16, 1, 64)).toBe(16);
    expect(numberAttr(' ', 16, 1, 64)).toBe(16);
    expect(numberAttr('many', 16, 1, 64)).toBe(16);
  });
});
