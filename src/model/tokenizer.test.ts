/**
 * Our tokenizer (@huggingface/tokenizers) against Hugging Face's Rust tokenizers (@anush008/tokenizers)
 * on the real Qwen2.5 files, and the slow-file route (vocab.json + merges.txt) against tokenizer.json.
 */
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../gpu/random';
import { promptText } from './prompt';
import { QWEN_TOKENIZER_JSON, qwenFiles, qwenTokenizer, tokenizerCorpus } from './testing/qwen-tokenizer';
import {
  loadTokenizer,
  readTokenizer,
  type TextTokenizer,
  TokenizerError,
  tokenizerJsonFromSlowFiles,
} from './tokenizer';

const corpus = tokenizerCorpus();

/** Seeded strings mixing scripts, whitespace, combining marks, emoji and added-token text. */
function randomStrings(n: number, seed: number): string[] {
  const r = rng(seed);
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0x20, 0x7e],
    [0xa0, 0xff],
    [0x300, 0x36f],
    [0x400, 0x44f],
    [0x3040, 0x30ff],
    [0x4e00, 0x4fff],
    [0xac00, 0xad00],
    [0x1f300, 0x1f64f],
    [0x1f900, 0x1f9ff],
  ];
  const extras = [
    ' ',
    '  ',
    '\n',
    '\n\n',
    '\t',
    '\r\n',
    '\u200d',
    "'s",
    '<think>',
    '</answer>',
    '<|endoftext|>',
    '123',
  ];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    const len = Math.floor(r() * 40);
    for (let j = 0; j < len; j++) {
      if (r() < 0.2) s += extras[Math.floor(r() * extras.length)];
      else {
        const [lo, hi] = ranges[Math.floor(r() * ranges.length)];
        s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
      }
    }
    out.push(s);
  }
  return out;
}

const allTexts = (): string[] => [
  ...corpus.texts,
  ...corpus.prompts.flatMap((p) => {
    const text = promptText(p);
    return [text, ...text.split('<image>')];
  }),
  ...randomStrings(300, 7),
];

describe('tokenizer (tokenizer.json) vs Hugging Face Rust tokenizers', () => {
  let ours: TextTokenizer;
  let rust: RustTokenizer;
  beforeAll(() => {
    ours = qwenTokenizer();
    rust = RustTokenizer.fromFile(QWEN_TOKENIZER_JSON);
  });

  it('gives identical ids on the corpus, the prompts and 300 random strings', async () => {
    const texts = allTexts();
    let mismatches = 0;
    for (const t of texts) {
      const want = (await rust.encode(t, null, { addSpecialTokens: false })).getIds();
      const got = ours.encode(t);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches++;
        expect({ text: t, ids: got }).toEqual({ text: t, ids: want });
      }
    }
    expect(mismatches).toBe(0);
  });

  it('decodes like the Rust library (with and without special tokens)', async () => {
    for (const t of corpus.texts) {
      const ids = ours.encode(t);
      expect(ours.decode(ids)).toBe(await rust.decode(ids, false));
      expect(ours.decode(ids, { skipSpecialTokens: true })).toBe(await rust.decode(ids, true));
    }
  });

  it('knows the facts the model relies on', () => {
    expect(ours.endOfTextId).toBe(151643);
    expect(ours.encode('<think>')).toEqual([13708, 766, 29]);
    expect(ours.encode('<|endoftext|>')).toEqual([151643]);
    expect(ours.encode(' ')).toEqual([220]);
    expect(ours.encode('\n')).toEqual([198]);
    expect(ours.isSpecial(151643)).toBe(true);
    expect(ours.isSpecial(151657)).toBe(false); // <tool_call> is added but not special
    expect(ours.size).toBe(151665);
  });

  it('guards decode([]) and ignores ids without a token', () => {
    expect(ours.decode([])).toBe('');
    expect(ours.decode([151700, 151935])).toBe('');
    expect(ours.decode([9707, 151700])).toBe('Hello');
    expect(ours.encode('')).toEqual([]);
  });
});

describe('tokenizer from the slow files (vocab.json + merges.txt)', () => {
  /** Derives what TinyLLaVA's hub repo holds from Qwen2.5's tokenizer.json. */
  function slowFiles() {
    const { tokenizerJson, tokenizerConfig } = qwenFiles();
    const tj = JSON.parse(tokenizerJson) as { model: { vocab: Record<string, number>; merges: string[] } };
    const config = JSON.parse(tokenizerConfig) as Record<string, unknown>;
    return {
      vocabJson: JSON.stringify(tj.model.vocab),
      mergesTxt: `#version: 0.2\n${tj.model.merges.join('\n')}\n`,
      config,
      decoder: config.added_tokens_decoder as Record<string, { content: string; special: boolean }>,
    };
  }

  let fast: TextTokenizer;
  let files: ReturnType<typeof slowFiles>;
  beforeAll(() => {
    fast = qwenTokenizer();
    files = slowFiles();
  });

  it('gives the same ids as tokenizer.json (config with added_tokens_decoder)', () => {
    const slow = loadTokenizer({
      vocabJson: files.vocabJson,
      mergesTxt: files.mergesTxt,
      tokenizerConfig: files.config,
    });
    for (const t of allTexts()) expect(slow.encode(t)).toEqual(fast.encode(t));
    for (const [id, info] of fast.addedTokens) expect(slow.addedTokens.get(id)).toEqual(info);
    expect(slow.size).toBe(fast.size);
    expect(slow.decode(slow.encode(corpus.texts[10]))).toBe(corpus.texts[10]);
  });

  it('reads added tokens from added_tokens.json + special_tokens_map.json (older saves)', async () => {
    const { added_tokens_decoder: _, ...bareConfig } = files.config;
    const addedTokens = Object.fromEntries(
      Object.entries(files.decoder).map(([id, t]) => [t.content, Number(id)]),
    );
    const specials = Object.values(files.decoder)
      .filter((t) => t.special)
      .map((t) => t.content);
    const store: Record<string, string> = {
      'tokenizer_config.json': JSON.stringify(bareConfig),
      'vocab.json': files.vocabJson,
      'merges.txt': files.mergesTxt,
      'added_tokens.json': JSON.stringify(addedTokens),
      'special_tokens_map.json': JSON.stringify({
        eos_token: '<|endoftext|>',
        additional_special_tokens: specials,
      }),
    };
    const slow = await readTokenizer(async (name) => store[name] ?? null);
    for (const t of corpus.texts) expect(slow.encode(t)).toEqual(fast.encode(t));
    for (const [id, info] of fast.addedTokens) expect(slow.addedTokens.get(id)).toEqual(info);
  });
});

describe('tokenizer loading rules (tiny vocabulary)', () => {
  // Byte-level symbols: "Ġ" is the space byte. Merges build "ab" then "Ġab".
  const vocab = { a: 0, b: 1, Ġ: 2, ab: 3, Ġab: 4 };
  const merges = '#version: 0.2\na b\nĠ ab\n';

  it('registers <|endoftext|> after the base vocabulary when nothing lists it', () => {
    const tj = tokenizerJsonFromSlowFiles({ vocab, merges, config: {} }) as {
      added_tokens: { id: number; content: string; special: boolean }[];
    };
    expect(tj.added_tokens).toEqual([
      expect.objectContaining({ id: 5, content: '<|endoftext|>', special: true }),
    ]);
    const t = loadTokenizer({ vocabJson: vocab, mergesTxt: merges });
    expect(t.encode('ab ab<|endoftext|>')).toEqual([3, 4, 5]);
    expect(t.endOfTextId).toBe(5);
    expect(t.decode([3, 4, 5], { skipSpecialTokens: true })).toBe('ab ab');
  });

  it('prefers tokenizer.json when present and reports missing or bad files', async () => {
    const asked: string[] = [];
    const store: Record<string, string> = {
      'tokenizer.json': JSON.stringify(tokenizerJsonFromSlowFiles({ vocab, merges, config: {} })),
    };
    const t = await readTokenizer(async (name) => {
      asked.push(name);
      return store[name] ?? null;
    });
    expect(t.encode(' ab')).toEqual([4]);
    expect(asked).toEqual(['tokenizer_config.json', 'tokenizer.json']);
    await expect(readTokenizer(async () => null)).rejects.toThrow(/vocab.json/);
    expect(() => loadTokenizer({ tokenizerJson: '{bad' })).toThrow(/not valid JSON/);
    expect(() => loadTokenizer({ vocabJson: vocab, mergesTxt: 'a b c' })).toThrow(/merges.txt/);
    // Found by the fuzz: the library's own errors (at load and at encode) come out as TokenizerError.
    expect(() => loadTokenizer({ tokenizerJson: '{}' })).toThrow(TokenizerError);
    expect(() => loadTokenizer({ tokenizerJson: 'null' })).toThrow(/tokenizer\.json must hold a JSON object/);
    const odd = tokenizerJsonFromSlowFiles({ vocab, merges, config: {} }) as { model: { vocab: unknown } };
    odd.model.vocab = [[], false];
    const noId = tokenizerJsonFromSlowFiles({ vocab, merges, config: {} }) as {
      added_tokens: { id?: number }[];
    };
    delete noId.added_tokens[0].id; // the library would encode <|endoftext|> as `undefined`
    expect(() => loadTokenizer({ tokenizerJson: noId })).toThrow(/added_tokens needs an integer id/);
    expect(() => loadTokenizer({ tokenizerJson: odd })).toThrow(
      /model\.vocab must map each token to an integer id/,
    );
  });
});
