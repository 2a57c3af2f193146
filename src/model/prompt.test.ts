import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildPrompt,
  DEFAULT_MAX_LENGTH,
  EVAL_SUFFIX,
  formatOptions,
  NEWLINE_ID,
  promptText,
  SPACE_ID,
  spliceLayout,
  TRAIN_SUFFIX,
  userText,
} from './prompt';
import { qwenTokenizer, tokenizerCorpus } from './testing/qwen-tokenizer';
import type { TextTokenizer } from './tokenizer';

const SYSTEM =
  "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. ";

describe('prompt text (qwen2_base)', () => {
  it('is the template of MODEL.md, with the eval suffix by default', () => {
    expect(promptText({ question: 'What happens?' })).toBe(
      `${SYSTEM}USER: <image>\nWhat happens?\nOutput the thinking process in <think> </think> and final answer (option) in <answer> </answer> tags. ASSISTANT:`,
    );
    expect(EVAL_SUFFIX.startsWith('\nOutput')).toBe(true);
    expect(TRAIN_SUFFIX.startsWith(' Output')).toBe(true);
  });

  it('formats options as "Options:\\nA. …\\nB. …" (Video-MME style)', () => {
    expect(formatOptions(['Cooking', ' Reading ', 'C. already labelled'])).toBe(
      'Options:\nA. Cooking\nB. Reading\nC. already labelled',
    );
    expect(userText({ question: 'Q?', options: ['x', 'y'], suffix: '' })).toBe('Q?\nOptions:\nA. x\nB. y');
    expect(userText({ question: 'Q?', options: ['x', 'y'] })).toBe(`Q?\nOptions:\nA. x\nB. y${EVAL_SUFFIX}`);
    expect(() => formatOptions(Array.from({ length: 27 }, () => 'o'))).toThrow();
  });

  it('strips outer whitespace and literal <image> from the user turn, as upstream', () => {
    expect(userText({ question: '<image>\n  Why?  ', suffix: '' })).toBe('Why?');
    expect(userText({ question: 'a <image> b', suffix: ' ' })).toBe('a  b');
  });
});

describe('prompt ids', () => {
  let tok: TextTokenizer;
  beforeAll(() => {
    tok = qwenTokenizer();
  });

  it('part 0 ends with " " (220), part 1 starts with "\\n" (198), for every corpus prompt', () => {
    for (const p of tokenizerCorpus().prompts) {
      const { before, after, text } = buildPrompt(tok, p);
      expect(text).toBe(promptText(p));
      expect(before[before.length - 1]).toBe(SPACE_ID);
      expect(after[0]).toBe(NEWLINE_ID);
      const [t0, t1] = text.split('<image>');
      expect(before).toEqual(tok.encode(t0));
      expect(after).toEqual(tok.encode(t1));
      expect(tok.decode(before) + '<image>' + tok.decode(after)).toBe(text);
    }
  });

  it('tokenizes the system part as the fixed prefix', () => {
    const { before } = buildPrompt(tok, { question: 'x' });
    expect(tok.decode(before)).toBe(`${SYSTEM}USER: `);
    expect(before.slice(-3)).toEqual([13872, 25, 220]); // "USER", ":", " "
  });
});

describe('spliceLayout', () => {
  const prompt = { before: [1, 2, 3], after: [4, 5, 6, 7] };

  it('places N video embeddings between the parts', () => {
    expect(spliceLayout(prompt, 512)).toEqual({
      before: [1, 2, 3],
      imageTokens: 512,
      after: [4, 5, 6, 7],
      length: 519,
      truncated: 0,
      imageStart: 3,
    });
  });

  it('keeps the first maxLength positions (the tail is cut first)', () => {
    expect(spliceLayout(prompt, 512, 517)).toMatchObject({
      after: [4, 5],
      imageTokens: 512,
      length: 517,
      truncated: 2,
    });
    expect(spliceLayout(prompt, 512, 100)).toMatchObject({
      after: [],
      imageTokens: 97,
      length: 100,
      truncated: 419,
    });
    expect(spliceLayout(prompt, 512, 2)).toMatchObject({
      before: [1, 2],
      imageTokens: 0,
      after: [],
      length: 2,
    });
    expect(spliceLayout(prompt, 0)).toMatchObject({ imageTokens: 0, length: 7, imageStart: 3 });
    expect(DEFAULT_MAX_LENGTH).toBe(3072);
    const long = { before: prompt.before, after: Array.from({ length: 3000 }, (_, i) => i) };
    expect(spliceLayout(long, 512)).toMatchObject({ length: 3072, truncated: 443 });
  });

  it('rejects bad sizes', () => {
    expect(() => spliceLayout(prompt, -1)).toThrow();
    expect(() => spliceLayout(prompt, 1.5)).toThrow();
    expect(() => spliceLayout(prompt, 1, 0)).toThrow();
  });
});
