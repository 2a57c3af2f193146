import { describe, expect, it } from 'vitest';
import { optionLines, splitQuestion } from './question-text';

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

describe('optionLines', () => {
  it('labels options A, B, … and reads back through splitQuestion', () => {
    expect(optionLines(['left', 'right'])).toBe('A. left\nB. right');
    expect(splitQuestion(`Q?\nOptions:\n${optionLines(['x', 'y', 'z'])}`).options).toEqual(['x', 'y', 'z']);
  });
});
