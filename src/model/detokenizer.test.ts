import { beforeAll, describe, expect, it } from 'vitest';
import { byteLevelToBytes, bytesToUnicode, Detokenizer, decodeIds } from './detokenizer';
import { qwenTokenizer, tokenizerCorpus } from './testing/qwen-tokenizer';
import type { TextTokenizer } from './tokenizer';

describe('GPT-2 byte table', () => {
  it('is a bijection onto 256 distinct characters, printable bytes unchanged', () => {
    const t = bytesToUnicode();
    expect(new Set(t).size).toBe(256);
    expect(t[0x41]).toBe('A');
    expect(t[0x20]).toBe('Ġ');
    expect(t[0x0a]).toBe('Ċ');
    expect(Array.from(byteLevelToBytes('ĠhiĊ')!)).toEqual([0x20, 0x68, 0x69, 0x0a]);
    expect(byteLevelToBytes('中')).toBeNull();
  });
});

describe('Detokenizer', () => {
  let tok: TextTokenizer;
  beforeAll(() => {
    tok = qwenTokenizer();
  });

  const splitTexts = [
    '👨‍👩‍👧‍👦 family 🇯🇵 flag 🧑🏿‍🚀',
    '视频中的人在做什么？他为什么要打开冰箱？',
    '<think>\n猫在睡觉 🫠 龘\n</think>\n<answer>B</answer>',
    'Ünïcödé façade — “quotes” … ½',
  ];

  it('never emits U+FFFD for characters split across tokens; increments concatenate to the full decode', () => {
    let sawSplit = false;
    for (const text of [...splitTexts, ...tokenizerCorpus().texts]) {
      const ids = tok.encode(text);
      const d = Detokenizer.for(tok, { skipSpecialTokens: false });
      const pieces = ids.map((id) => d.push(id));
      pieces.push(d.flush());
      if (pieces.some((p) => p === '')) sawSplit = true;
      for (const p of pieces) expect(p.includes('\uFFFD')).toBe(false);
      expect(pieces.join('')).toBe(tok.decode(ids));
      expect(d.textSoFar).toBe(tok.decode(ids));
    }
    expect(sawSplit).toBe(true); // the corpus really has characters spanning tokens
  });

  it('token-by-token library decoding would have broken them (why this exists)', () => {
    const ids = tok.encode('🫠');
    expect(ids.length).toBeGreaterThan(1);
    expect(ids.map((id) => tok.decode([id])).join('')).toContain('\uFFFD');
    expect(decodeIds(tok, ids)).toBe('🫠');
  });

  it('skips special tokens by default and keeps non-special added tokens', () => {
    const ids = [...tok.encode('<answer>B</answer>'), tok.endOfTextId];
    expect(decodeIds(tok, ids)).toBe('<answer>B</answer>');
    expect(decodeIds(tok, ids, { skipSpecialTokens: false })).toBe('<answer>B</answer><|endoftext|>');
    expect(decodeIds(tok, [151657, 9707])).toBe('<tool_call>Hello'); // added, not special
    expect(decodeIds(tok, ids)).toBe(tok.decode(ids, { skipSpecialTokens: true }));
  });

  it('drops ids without a token and flushes an incomplete tail as U+FFFD', () => {
    expect(decodeIds(tok, [151700, 9707, 151935])).toBe('Hello');
    const ids = tok.encode('🫠');
    const d = Detokenizer.for(tok);
    expect(d.push(ids[0])).toBe('');
    expect(d.flush()).toBe('\uFFFD');
  });
});
