/**
 * Fuzzing the reasoning parser on arbitrary token streams: tags whole, split across chunks, doubled,
 * unclosed or out of order, among arbitrary text. The streaming parser never throws, its deltas add
 * up to its final texts, and it agrees with a direct (non-streaming) reading of the rules in
 * reasoning-parser.ts, however the text is cut into chunks. The option read is always null or a
 * letter within the options.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DoneEvent, extractOption, ReasoningParser } from './reasoning-parser';
import { fuzzParams, fuzzTimeout } from './testing/fuzz';

/** The rules, read off the whole text at once. */
function reference(text: string): Omit<DoneEvent, 'type' | 'option'> {
  const ia = text.indexOf('<answer>');
  const before = ia < 0 ? text : text.slice(0, ia);
  const pieces = before.split(/(<\/?think>)/);
  const thinkText = pieces
    .filter((_, i) => i % 2 === 0)
    .join('')
    .trim();
  const lastTag = pieces.length > 1 ? pieces[pieces.length - 2] : null;
  if (ia < 0) {
    const answer = lastTag === '</think>' ? pieces[pieces.length - 1].trim() : '';
    const base = { thinkText, answerText: '', answerOpened: false, answerClosed: false, trailingText: '' };
    return { ...base, answer };
  }
  const rest = text.slice(ia + '<answer>'.length);
  const ic = rest.indexOf('</answer>');
  const answerText = (ic < 0 ? rest : rest.slice(0, ic)).trim();
  return {
    answer: answerText,
    thinkText,
    answerText,
    answerOpened: true,
    answerClosed: ic >= 0,
    trailingText: ic < 0 ? '' : rest.slice(ic + '</answer>'.length).trim(),
  };
}

const pieceArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('<think>', '</think>', '<answer>', '</answer>') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('<', '</', '<th', 'ink>', '<ans', 'wer>', '>', '</answ', '<<think>'),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(' ', '\n', '  \n', '\t', 'A', 'B', '(C)', 'answer is D', 'because'),
  },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

/** A stream: the pieces joined, then cut into chunks at arbitrary positions. */
const streamArb = fc
  .tuple(fc.array(pieceArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 12 }))
  .map(([pieces, cuts]) => {
    const text = pieces.join('');
    const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
    const chunks = [0, ...at].map((from, i) => text.slice(from, [...at, text.length][i]));
    return { text, chunks };
  });

describe('reasoning parser fuzz', () => {
  it(
    'streams arbitrary chunks like the rules read the whole text, with deltas adding up',
    () => {
      fc.assert(
        fc.property(streamArb, fc.integer({ min: 1, max: 26 }), ({ text, chunks }, numOptions) => {
          const p = new ReasoningParser({ numOptions });
          const events = [...chunks.flatMap((c) => p.push(c)), ...p.finish()];
          const done = events.pop() as DoneEvent;
          expect(done.type).toBe('done');
          expect(events.every((e) => e.type !== 'done')).toBe(true);
          const deltas = (type: string) =>
            events
              .filter((e) => e.type === type)
              .map((e) => (e as { text: string }).text)
              .join('');
          expect(deltas('think')).toBe(done.thinkText);
          expect(deltas('answer')).toBe(done.answerText);
          const { option, type: _, ...rest } = done;
          expect(rest).toEqual(reference(text));
          expect(option).toBe(extractOption(done.answer, { numOptions }));
          // Think events all come before the first answer event.
          const firstAnswer = events.findIndex((e) => e.type === 'answer');
          if (firstAnswer >= 0)
            expect(events.slice(firstAnswer).every((e) => e.type === 'answer')).toBe(true);
        }),
        fuzzParams(500),
      );
    },
    fuzzTimeout(20_000),
  );

  it(
    'reads an option only within the options, from any answer text and option texts',
    () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 6 }),
          (answer, options) => {
            const got = extractOption(answer, { options });
            const n = options.length || 26;
            if (got !== null) {
              expect(got).toMatch(/^[A-Z]$/);
              expect(got.charCodeAt(0) - 65).toBeLessThan(n);
            }
          },
        ),
        fuzzParams(500),
      );
    },
    fuzzTimeout(20_000),
  );
});
