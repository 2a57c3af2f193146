import { describe, expect, it } from 'vitest';
import { accuracyReward, formatReward, pyStrip, scoreCompletion, totalReward } from './rewards';

const TRUTH = '<answer>B</answer>';
const think = (n: number) => 'x'.repeat(n);

describe('accuracyReward (upstream string matching)', () => {
  const cases: [string, number][] = [
    ['<think>pours milk</think>\n<answer>B</answer>', 1],
    ['<answer>B. He pours milk.</answer>', 1],
    ['<answer>Because he is thirsty</answer>', 1], // first character rule, as upstream
    ['<answer> B </answer>', 1],
    ['<answer>B\r</answer>', 1], // Python's `.` crosses \r
    ['<answer>C</answer>', 0],
    ['<answer>b</answer>', 0],
    ['<answer>(B)</answer>', 0],
    ['<answer></answer>B', 0],
    ['<answer>A</answer><answer>B</answer>', 0], // first answer only
    ['<answer>\nB\n</answer>', 0], // no one-line match: the whole text, starting with "<"
    ['<answer>\nA\n</answer> <answer>B</answer>', 1], // the search skips to a one-line answer
    ['B', 1], // no tags: the whole completion
    ['Bird', 1],
    ['', 0],
    ['   ', 0],
  ];
  for (const [completion, want] of cases)
    it(`${JSON.stringify(completion)} → ${want}`, () => expect(accuracyReward(completion, TRUTH)).toBe(want));

  it('ground truth without tags, and multi-character truths', () => {
    expect(accuracyReward('<answer>B</answer>', ' B ')).toBe(1);
    expect(accuracyReward('<answer>12</answer>', '<answer>12</answer>')).toBe(1);
    expect(accuracyReward('<answer>1</answer>', '<answer>12</answer>')).toBe(0);
    expect(accuracyReward('<answer>😀 yes</answer>', '<answer>😀</answer>')).toBe(1); // first code point
  });
});

describe('formatReward (fullmatch, one of each tag, continuous length term)', () => {
  it('scores 0.5 + 0.5·min(len/1200, 1) on well-formed completions', () => {
    expect(formatReward(`<think>${think(600)}</think><answer>B</answer>`)).toBe(0.75);
    expect(formatReward(`<think>${think(1200)}</think>\n\n<answer>B</answer>`)).toBe(1);
    expect(formatReward(`<think>${think(5000)}</think> <answer>B</answer>`)).toBe(1);
    expect(formatReward('<think></think><answer></answer>')).toBe(0.5);
    expect(formatReward('<think>\nline1\nline2\n</think>\n<answer>\nB\n</answer>')).toBeCloseTo(
      0.5 + 0.5 * (11 / 1200),
    );
  });

  it('counts code points after stripping', () => {
    expect(formatReward(`<think>  \n${'😀'.repeat(600)}\n </think><answer>B</answer>`)).toBe(0.75);
    expect(formatReward(`<think>\x1c${think(120)}\u3000</think><answer>B</answer>`)).toBe(0.55);
  });

  it('is 0 for anything else', () => {
    expect(formatReward('<think>a</think><answer>B</answer><answer>C</answer>')).toBe(0); // second answer
    expect(formatReward('<think>a<think>b</think><answer>B</answer>')).toBe(0);
    expect(formatReward('x<think>a</think><answer>B</answer>')).toBe(0);
    expect(formatReward('<think>a</think><answer>B</answer>x')).toBe(0);
    expect(formatReward('<think>a</think>x<answer>B</answer>')).toBe(0);
    expect(formatReward('<answer>B</answer>')).toBe(0);
    expect(formatReward('<think>a</think>')).toBe(0);
    expect(formatReward('<think>a</think><answer>B')).toBe(0);
    expect(formatReward('')).toBe(0);
  });
});

describe('totalReward and scoreCompletion', () => {
  it('acc + (2·acc − 1)·format, exactly 0 → −2', () => {
    expect(totalReward(1, 1)).toBe(2);
    expect(totalReward(1, 0.5)).toBe(1.5);
    expect(totalReward(1, 0)).toBe(1);
    expect(totalReward(0, 0.75)).toBe(-0.75);
    expect(totalReward(0, 0)).toBe(-2);
  });

  it('strips the decoded completion first, then scores', () => {
    const decoded = `\n <think>${think(1200)}</think>\n<answer>B</answer>\n`;
    expect(scoreCompletion(decoded, TRUTH)).toEqual({ accuracy: 1, format: 1, total: 2 });
    expect(scoreCompletion(`<think>${think(600)}</think><answer>A</answer>`, TRUTH)).toEqual({
      accuracy: 0,
      format: 0.75,
      total: -0.75,
    });
    expect(scoreCompletion('I am not sure.', TRUTH)).toEqual({ accuracy: 0, format: 0, total: -2 });
    expect(scoreCompletion('B', TRUTH)).toEqual({ accuracy: 1, format: 0, total: 1 });
  });

  it('pyStrip uses Python whitespace', () => {
    expect(pyStrip('\x1c\x1d ab \x85\u3000')).toBe('ab');
    expect(pyStrip('\ufeffab')).toBe('\ufeffab'); // not whitespace to Python
  });
});
