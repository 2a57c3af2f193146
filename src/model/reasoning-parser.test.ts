import { describe, expect, it } from 'vitest';
import {
  type DoneEvent,
  extractOption,
  type ParserOptions,
  parseReasoning,
  type ReasoningEvent,
  ReasoningParser,
} from './reasoning-parser';

/** Runs the parser over `chunks`, checking the stream invariants, and returns the done event. */
function run(chunks: string[], opts?: ParserOptions): DoneEvent {
  const p = new ReasoningParser(opts);
  const events: ReasoningEvent[] = [];
  for (const c of chunks) events.push(...p.push(c));
  events.push(...p.finish());
  const done = events.pop() as DoneEvent;
  expect(done.type).toBe('done');
  expect(events.every((e) => e.type !== 'done')).toBe(true);
  const think = events.filter((e) => e.type === 'think').map((e) => e.text);
  const answer = events.filter((e) => e.type === 'answer').map((e) => e.text);
  expect(think.join('')).toBe(done.thinkText);
  expect(answer.join('')).toBe(done.answerText);
  // All thinking streams before any answer.
  const firstAnswer = events.findIndex((e) => e.type === 'answer');
  if (firstAnswer >= 0) expect(events.slice(firstAnswer).every((e) => e.type === 'answer')).toBe(true);
  for (const e of events) expect((e as { text: string }).text.length).toBeGreaterThan(0);
  return done;
}

/** The same done event whether the text arrives whole, split at any point, or char by char. */
function expectChunkingInvariant(text: string, opts?: ParserOptions): DoneEvent {
  const whole = run([text], opts);
  for (let i = 0; i <= text.length; i++) expect(run([text.slice(0, i), text.slice(i)], opts)).toEqual(whole);
  expect(run(Array.from(text), opts)).toEqual(whole);
  for (let i = 1; i < text.length; i += 7)
    for (let j = i; j < text.length; j += 5)
      expect(run([text.slice(0, i), text.slice(i, j), text.slice(j)], opts)).toEqual(whole);
  return whole;
}

const OPTIONS = [
  'He opens the fridge.',
  'He pours milk into a glass.',
  'He washes the dishes.',
  'He leaves.',
];

describe('ReasoningParser on R1-style outputs', () => {
  it('well-formed: think then answer letter', () => {
    const d = expectChunkingInvariant(
      '<think>\nThe video shows a man opening the fridge. He takes out a carton and pours milk into a glass, so the action after opening the fridge is pouring.\n</think>\n<answer>B</answer>',
      { options: OPTIONS },
    );
    expect(d.thinkText).toBe(
      'The video shows a man opening the fridge. He takes out a carton and pours milk into a glass, so the action after opening the fridge is pouring.',
    );
    expect(d).toMatchObject({
      answer: 'B',
      answerText: 'B',
      option: 'B',
      answerOpened: true,
      answerClosed: true,
    });
  });

  it('answer with the option text and extra whitespace', () => {
    const d = expectChunkingInvariant(
      '  <think>  \n\n First he opens the door.\n\nThen  he  leaves. \n </think>  \n <answer>  D. He leaves.  </answer>  \n',
      { options: OPTIONS },
    );
    expect(d.thinkText).toBe('First he opens the door.\n\nThen  he  leaves.');
    expect(d.answerText).toBe('D. He leaves.');
    expect(d.option).toBe('D');
    expect(d.trailingText).toBe('');
  });

  it('missing <think>: text before </think> is thinking', () => {
    const d = expectChunkingInvariant('The man is pouring something.\n</think>\n<answer>(B)</answer>');
    expect(d.thinkText).toBe('The man is pouring something.');
    expect(d.option).toBe('B');
  });

  it('no think tags at all: everything before <answer> is thinking', () => {
    const d = expectChunkingInvariant('He washes dishes at the sink.\n<answer>C</answer>');
    expect(d.thinkText).toBe('He washes dishes at the sink.');
    expect(d.option).toBe('C');
  });

  it('unclosed answer (stream cut at max tokens)', () => {
    const d = expectChunkingInvariant('<think>short</think><answer>A. He opens the fr');
    expect(d).toMatchObject({ answerText: 'A. He opens the fr', option: 'A', answerClosed: false });
  });

  it('unclosed think: no answer, no option', () => {
    const d = expectChunkingInvariant('<think>\nThe video shows a kitchen. The man walks to');
    expect(d).toMatchObject({
      thinkText: 'The video shows a kitchen. The man walks to',
      answer: '',
      option: null,
    });
    expect(d.answerOpened).toBe(false);
  });

  it('answer tags forgotten: text after </think> is the answer', () => {
    const d = expectChunkingInvariant('<think>pouring milk</think>\nB');
    expect(d).toMatchObject({ thinkText: 'pouring milk\nB', answer: 'B', answerText: '', option: 'B' });
  });

  it('text after the first </answer> is trailing; a second answer is ignored', () => {
    const d = expectChunkingInvariant('<think>x</think><answer>A</answer>\n<answer>C</answer> done');
    expect(d).toMatchObject({ answer: 'A', option: 'A', trailingText: '<answer>C</answer> done' });
  });

  it('text between </think> and <answer>, and several think blocks, are thinking', () => {
    const d = expectChunkingInvariant('<think>one</think> so <think>two</think>\n<answer>C</answer>');
    expect(d.thinkText).toBe('one so two');
    expect(d.option).toBe('C');
  });

  it('near-tags are text: "<thinking>", "< answer>", a lone "<"', () => {
    const d = expectChunkingInvariant('<thinking> a < b </thinking>< answer>B<answer>1 < 2</answer>');
    expect(d.thinkText).toBe('<thinking> a < b </thinking>< answer>B');
    expect(d.answerText).toBe('1 < 2');
    expect(d.option).toBe(null);
  });

  it('tags split across chunks are recognised', () => {
    expect(run(['<thi', 'nk>hm</th', 'ink><ans', 'wer>C</an', 'swer>'])).toMatchObject({
      thinkText: 'hm',
      answerText: 'C',
      option: 'C',
    });
    expect(run(['<', 'answer', '>', 'B', '<', '/answer', '>'])).toMatchObject({
      answerText: 'B',
      option: 'B',
    });
  });

  it('holds back only possible tag prefixes', () => {
    const p = new ReasoningParser();
    expect(p.push('<think>a <b')).toEqual([{ type: 'think', text: 'a <b' }]);
    expect(p.push(' c </thi')).toEqual([{ type: 'think', text: ' c' }]);
    expect(p.push('nk><answer>B')).toEqual([{ type: 'answer', text: 'B' }]);
    expect(() => p.push('x')).not.toThrow();
    p.finish();
    expect(() => p.push('x')).toThrow();
  });

  it('empty output', () => {
    expect(parseReasoning('')).toMatchObject({ thinkText: '', answerText: '', answer: '', option: null });
  });
});

describe('extractOption', () => {
  const cases: [string, string | null][] = [
    ['B', 'B'],
    ['b', 'B'],
    ['B.', 'B'],
    ['(B)', 'B'],
    ['B)', 'B'],
    ['B:', 'B'],
    ['**B**', 'B'],
    ['"C"', 'C'],
    ['B. He pours milk.', 'B'],
    ['(C) He washes the dishes', 'C'],
    ['I would pick (D).', 'D'],
    ['The answer is A', 'A'],
    ['Option C', 'C'],
    ['answer: (b)', 'B'],
    ['B because he pours milk', 'B'],
    ['a glass of milk', null],
    ['', null],
    ['E', null],
    ['(F)', null],
  ];
  for (const [answer, want] of cases)
    it(`${JSON.stringify(answer)} → ${want}`, () =>
      expect(extractOption(answer, { numOptions: 4 })).toBe(want));

  it('matches an option given by its text (exactly one)', () => {
    expect(extractOption('he pours milk into a glass', { options: OPTIONS })).toBe('B');
    expect(extractOption('The man: He leaves.', { options: OPTIONS })).toBe('D');
    expect(extractOption('milk', { options: ['milk', 'milk and bread'] })).toBe('A');
    expect(extractOption('nothing relevant', { options: OPTIONS })).toBe(null);
  });

  it('without a bound, any letter A–Z counts', () => {
    expect(extractOption('Z')).toBe('Z');
  });
});
