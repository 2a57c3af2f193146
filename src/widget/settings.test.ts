import { describe, expect, it } from 'vitest';
import { numberAttr, splitQuestion } from './settings';

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

describe('splitQuestion', () => {
  it('splits the options block the demo model was trained on', () => {
    const q = 'Which way does the red square move?\nOptions:\nA. left\nB. right\nC. up\nD. down';
    expect(splitQuestion(q)).toEqual({
      question: 'Which way does the red square move?',
      options: ['left', 'right', 'up', 'down'],
    });
  });

  it('leaves a plain question alone', () => {
    expect(splitQuestion('  What happens first?\n')).toEqual({
      question: 'What happens first?',
      options: [],
    });
  });

  it('reads other label styles and skips blank lines', () => {
    expect(splitQuestion('Which?\n options:\n(A) one\n\nb) two')).toEqual({
      question: 'Which?',
      options: ['one', 'two'],
    });
  });
});
