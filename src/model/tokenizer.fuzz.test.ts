/**
 * Fuzzing the tokenizer on arbitrary Unicode (lone surrogates, combining marks, emoji, controls,
 * added-token text): encode never throws and gives known ids; decode(encode(s)) gives back s as the
 * tokenizer sees it (NFC, lone surrogates as U+FFFD); and the ids equal Hugging Face's Rust tokenizer
 * (@anush008/tokenizers) and transformers.js (@xenova/transformers, the same files read from disk,
 * no network) on the real Qwen2.5 files and on the shapes demo tokenizer.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { fuzzParams, fuzzTimeout } from './testing/fuzz';
import { QWEN_TOKENIZER_JSON, qwenTokenizer } from './testing/qwen-tokenizer';
import { loadTokenizer, type TextTokenizer, TokenizerError } from './tokenizer';

const SHAPES_DIR = new URL('../../test-data/tokenizer-shapes/', import.meta.url).pathname;

interface XenovaTokenizer {
  encode(text: string, pair: null, opts: { add_special_tokens: boolean }): number[];
}

/** transformers.js's AutoTokenizer on a local folder; its tokenizer module only (no ONNX, no images). */
async function xenovaTokenizer(dir: string): Promise<XenovaTokenizer> {
  // A specifier in a variable: the package ships types for its root only.
  const envSpec = '@xenova/transformers/src/env.js';
  const tokSpec = '@xenova/transformers/src/tokenizers.js';
  const { env } = await import(envSpec);
  const { AutoTokenizer } = await import(tokSpec);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${dirname(dir)}/`;
  return AutoTokenizer.from_pretrained(dir.split('/').filter(Boolean).pop());
}

const SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>', '<answer>', '<image>'];

/** Arbitrary text: any code units, any code points, graphemes, and tag-like pieces mixed in. */
const textArb = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
      fc.constantFrom(...SPECIAL, ' ', '  ', '\n', '\r\n', '\t', "'s", "'LL", '123456', '\u0301', '\u200d'),
      fc.string({ unit: fc.constantFrom(' ', '\n', 'a', 'é', '1', "'", '<', '|', '>'), maxLength: 10 }),
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

/** What the tokenizer encodes: lone surrogates become U+FFFD (UTF-8), then NFC (Qwen's normalizer). */
const seenAs = (s: string) => s.toWellFormed().normalize('NFC');

describe('tokenizer fuzz (Qwen2.5 files)', () => {
  let ours: TextTokenizer;
  let rust: RustTokenizer;
  let xenova: XenovaTokenizer;
  beforeAll(async () => {
    ours = qwenTokenizer();
    rust = RustTokenizer.fromFile(QWEN_TOKENIZER_JSON);
    xenova = await xenovaTokenizer(`${dirname(QWEN_TOKENIZER_JSON)}/`);
  });

  it(
    'encode never throws, every id has a token, decode gives the text back',
    () => {
      fc.assert(
        fc.property(textArb, (s) => {
          const ids = ours.encode(s);
          for (const id of ids) expect(ours.idToToken(id)).toBeTypeOf('string');
          expect(ours.decode(ids)).toBe(seenAs(s));
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(30_000),
  );

  it(
    'the same ids as the Rust tokenizer and transformers.js',
    async () => {
      await fc.assert(
        fc.asyncProperty(textArb, async (s) => {
          const ids = ours.encode(s);
          const want = (await rust.encode(s, null, { addSpecialTokens: false })).getIds();
          expect({ s, ids }).toEqual({ s, ids: want });
          expect({ s, ids }).toEqual({ s, ids: xenova.encode(s, null, { add_special_tokens: false }) });
        }),
        fuzzParams(200),
      );
    },
    fuzzTimeout(30_000),
  );
});

describe('tokenizer fuzz (shapes demo tokenizer)', () => {
  let ours: TextTokenizer;
  let rust: RustTokenizer;
  let xenova: XenovaTokenizer;
  beforeAll(async () => {
    ours = loadTokenizer({
      tokenizerJson: readFileSync(`${SHAPES_DIR}tokenizer.json`, 'utf8'),
      tokenizerConfig: readFileSync(`${SHAPES_DIR}tokenizer_config.json`, 'utf8'),
    });
    rust = RustTokenizer.fromFile(`${SHAPES_DIR}tokenizer.json`);
    xenova = await xenovaTokenizer(SHAPES_DIR);
  });

  it(
    'the same ids as the Rust tokenizer and transformers.js, and the text back',
    async () => {
      await fc.assert(
        fc.asyncProperty(textArb, async (s) => {
          const ids = ours.encode(s);
          const want = (await rust.encode(s, null, { addSpecialTokens: false })).getIds();
          expect({ s, ids }).toEqual({ s, ids: want });
          expect({ s, ids }).toEqual({ s, ids: xenova.encode(s, null, { add_special_tokens: false }) });
          expect(ours.decode(ids)).toBe(await rust.decode(ids, false));
        }),
        fuzzParams(200),
      );
    },
    fuzzTimeout(30_000),
  );
});

describe('tokenizer fuzz (broken tokenizer files)', () => {
  type Json = Record<string, unknown>;
  const tokenizerJson = JSON.parse(readFileSync(`${SHAPES_DIR}tokenizer.json`, 'utf8')) as Json;
  const tokenizerConfig = JSON.parse(readFileSync(`${SHAPES_DIR}tokenizer_config.json`, 'utf8')) as Json;

  /** Every path to an object key or array element, up to depth 3 (not into the big vocab and merges). */
  function paths(v: unknown, prefix: string[] = [], depth = 0): string[][] {
    if (depth >= 3 || typeof v !== 'object' || v === null) return [];
    return Object.entries(v).flatMap(([k, x]) =>
      ['vocab', 'merges'].includes(k)
        ? [[...prefix, k]]
        : [[...prefix, k], ...paths(x, [...prefix, k], depth + 1)],
    );
  }
  const files = { tokenizerJson, tokenizerConfig } as const;
  const PATHS = (['tokenizerJson', 'tokenizerConfig'] as const).flatMap((f) =>
    paths(files[f]).map((p) => [f, ...p]),
  );
  const editArb = fc.record({
    path: fc.constantFrom(...PATHS),
    value: fc.option(
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(null, 0, -1, '', 'BPE', [], {})),
      {
        nil: undefined,
        freq: 4,
      },
    ),
  });

  it(
    'loading edited tokenizer.json / tokenizer_config.json: a TokenizerError, or a tokenizer that works',
    () => {
      let loaded = 0;
      let refused = 0;
      fc.assert(
        fc.property(fc.array(editArb, { minLength: 1, maxLength: 3 }), textArb, (edits, s) => {
          const f = JSON.parse(JSON.stringify(files)) as Record<string, unknown>;
          for (const { path, value } of edits) {
            let o = f as Record<string, unknown>;
            for (const k of path.slice(0, -1)) {
              if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
              o = o[k] as Record<string, unknown>;
            }
            if (value === undefined) delete o[path[path.length - 1]];
            else o[path[path.length - 1]] = structuredClone(value);
          }
          let tok: TextTokenizer;
          try {
            tok = loadTokenizer({
              tokenizerJson: JSON.stringify(f.tokenizerJson),
              tokenizerConfig: JSON.stringify(f.tokenizerConfig),
            });
          } catch (e) {
            expect(e).toBeInstanceOf(TokenizerError);
            refused++;
            return;
          }
          loaded++;
          try {
            const ids = tok.encode(s);
            for (const id of ids) expect(Number.isSafeInteger(id), `id ${id}`).toBe(true);
            tok.decode(ids);
          } catch (e) {
            expect(e).toBeInstanceOf(TokenizerError);
          }
        }),
        fuzzParams(300),
      );
      expect(loaded).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
    },
    fuzzTimeout(30_000),
  );
});
