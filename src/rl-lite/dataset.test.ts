import { describe, expect, it } from 'vitest';
import { type DatasetItem, formatDataset, parseDataset, sftTarget } from './dataset';

const items: DatasetItem[] = [
  {
    problem: 'Which way does the red square move?\nOptions:\nA. left\nB. right\nC. up\nD. down',
    solution: '<answer>D</answer>',
    video_filename: 'squares-00000.mp4',
    problem_id: 0,
    think:
      'The red square starts near the top left at (20, 30) and ends at (20, 99), lower in the frame, so it moves down.',
  },
  {
    problem: 'What does the man do?\nOptions:\nA. sits\nB. runs',
    solution: '<answer>B</answer>',
    video_filename: 'nextqa/1234.mp4',
    problem_id: 'q-7',
    data_type: 'video',
  },
];

describe('dataset JSONL', () => {
  it('round-trips, one object a line in the paper’s field order, unknown fields kept', () => {
    const text = formatDataset(items);
    expect(text.split('\n')).toHaveLength(3);
    expect(text.startsWith('{"problem":"Which way')).toBe(true);
    expect(Object.keys(JSON.parse(text.split('\n')[0]))).toEqual([
      'problem',
      'solution',
      'video_filename',
      'problem_id',
      'think',
    ]);
    expect(parseDataset(text)).toEqual(items);
    expect(parseDataset(`\n${text.replaceAll('\n', '\r\n')}\n\n`)).toEqual(items);
  });

  it('builds the SFT target from think and solution', () => {
    expect(sftTarget(items[0])).toBe(`<think>${items[0].think}</think><answer>D</answer>`);
    expect(() => sftTarget(items[1])).toThrow(/problem "q-7" has no "think"/);
  });

  it('names the file and line of a bad line', () => {
    const good = formatDataset([items[0]]).trim();
    const line = (o: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(good), ...o });
    const cases: [string, RegExp][] = [
      ['{"problem": ', /^train\.jsonl:2: not valid JSON/],
      ['[1, 2]', /^train\.jsonl:2: not a JSON object$/],
      [JSON.stringify({ solution: '<answer>A</answer>' }), /:2: missing "problem"$/],
      [line({ problem: 3 }), /:2: "problem" is the number 3, not a string$/],
      [line({ video_filename: ' ' }), /:2: "video_filename" is empty$/],
      [line({ solution: 'B' }), /:2: "solution" is "B", not "<answer>X<\/answer>"$/],
      [line({ solution: '<answer> </answer>' }), /:2: "solution" is/],
      [line({ problem_id: 1.5 }), /:2: "problem_id" is the number 1.5, not an integer or a string$/],
      [line({ problem_id: null }), /:2: "problem_id" is null/],
      [line({ think: ['x'] }), /:2: "think" is an array, not a string$/],
      [good, /^train\.jsonl:2: problem_id 0 repeats line 1$/],
    ];
    for (const [bad, want] of cases)
      expect(() => parseDataset(`${good}\n${bad}\n`, 'train.jsonl')).toThrow(want);
    const { problem_id: _, ...noId } = JSON.parse(good);
    expect(() => parseDataset(JSON.stringify(noId))).toThrow(/^dataset:1: missing "problem_id"$/);
  });
});
