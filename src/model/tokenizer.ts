/**
 * Qwen2.5's byte-level BPE tokenizer, run by @huggingface/tokenizers (pure JS, DOM-free).
 *
 * Two ways in, same ids (proved in tokenizer.test.ts):
 * - a fast-tokenizer `tokenizer.json` (+ `tokenizer_config.json`), as Qwen/Qwen2.5-3B ships;
 * - the slow-tokenizer files TinyLLaVA saves (`vocab.json` + `merges.txt` + `tokenizer_config.json`,
 *   optionally `added_tokens.json` / `special_tokens_map.json`): we build the equivalent tokenizer.json
 *   object (Qwen2's split regex, ByteLevel, NFC, BPE) and hand it to the same library.
 *
 * Added tokens that appear literally in text (e.g. `<|endoftext|>`) are matched as their ids, as the
 * Python tokenizer does; `<think>` is plain text in Qwen2.5 ([13708, 766, 29]).
 */
import { Tokenizer } from '@huggingface/tokenizers';

/** Qwen2's pre-tokenizer regex (Qwen2TokenizerFast and the slow Qwen2Tokenizer use the same one). */
export const QWEN2_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export const ENDOFTEXT = '<|endoftext|>';

type Json = Record<string, unknown>;

/** The tokenizer files of a checkpoint, each as parsed JSON or raw text. */
export interface TokenizerFiles {
  tokenizerJson?: Json | string;
  tokenizerConfig?: Json | string;
  vocabJson?: Json | string;
  mergesTxt?: string;
  /** `added_tokens.json`: {content: id}; older slow-tokenizer saves keep added tokens here. */
  addedTokensJson?: Json | string;
  /** `special_tokens_map.json`: marks which added tokens are special when the config does not say. */
  specialTokensMap?: Json | string;
}

/** Reads a text file of the checkpoint by name; null when absent (a WeightSource adapter provides it). */
export type TextFileReader = (name: string) => Promise<string | null>;

export interface AddedTokenInfo {
  id: number;
  content: string;
  special: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

const asJson = (v: Json | string | undefined, what: string): Json | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as Json;
  } catch (e) {
    throw new TokenizerError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
};

/** A loaded tokenizer: encode/decode plus the vocabulary queries the detokenizer and prompt need. */
export class TextTokenizer {
  private readonly lib: Tokenizer;
  private readonly added = new Map<number, AddedTokenInfo>();
  /** tokenizer_config's model_max_length (huge for Qwen; the model's own limit lives in config.json). */
  readonly modelMaxLength: number | undefined;
  private readonly cleanUpSpaces: boolean;

  constructor(tokenizerJson: Json, tokenizerConfig: Json = {}) {
    this.lib = new Tokenizer(tokenizerJson, tokenizerConfig);
    for (const [id, t] of this.lib.get_added_tokens_decoder()) {
      this.added.set(id, { id, content: t.content, special: t.special });
    }
    const mml = tokenizerConfig.model_max_length;
    this.modelMaxLength = typeof mml === 'number' ? mml : undefined;
    // Qwen2Tokenizer's default is false; the library's default would be true.
    this.cleanUpSpaces = tokenizerConfig.clean_up_tokenization_spaces === true;
  }

  /** Token ids of `text`; no BOS/EOS is added (Qwen adds none). */
  encode(text: string): number[] {
    if (text.length === 0) return [];
    const { ids, tokens } = libraryCall('the tokenizer could not encode the text', () =>
      this.lib.encode(text, { add_special_tokens: false }),
    );
    // A token the files give no id (a broken tokenizer.json) must not reach the model as `undefined`.
    const bad = ids.findIndex((id) => !Number.isSafeInteger(id));
    if (bad >= 0) throw new TokenizerError(`tokenizer.json gives token ${JSON.stringify(tokens[bad])} no id`);
    return ids;
  }

  /** Decodes ids to text; ids without a token (the embedding's padding rows) are dropped. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const known = ids.filter((id) => this.idToToken(id) !== undefined);
    if (known.length === 0) return ''; // the library throws on an empty list
    return libraryCall('the tokenizer could not decode the ids', () =>
      this.lib.decode(known, {
        skip_special_tokens: opts.skipSpecialTokens ?? false,
        clean_up_tokenization_spaces: this.cleanUpSpaces,
      }),
    );
  }

  /** The vocabulary string of an id (byte-level form for BPE tokens, content for added tokens). */
  idToToken(id: number): string | undefined {
    return this.lib.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  /** Added tokens by id (`<|endoftext|>`, `<|im_start|>`, …). */
  get addedTokens(): ReadonlyMap<number, AddedTokenInfo> {
    return this.added;
  }

  isSpecial(id: number): boolean {
    return this.added.get(id)?.special ?? false;
  }

  /** `<|endoftext|>` (151643 for Qwen2.5): bos/eos/pad of the R1 checkpoint. */
  get endOfTextId(): number {
    const id = this.tokenToId(ENDOFTEXT);
    if (id === undefined) throw new TokenizerError(`the vocabulary has no ${ENDOFTEXT}`);
    return id;
  }

  /** Number of ids with a token (base vocabulary + added tokens); the model's V may be larger. */
  get size(): number {
    return this.lib.get_vocab(true).size;
  }
}

/** The library's own errors (plain Error, TypeError) as a TokenizerError naming the file. */
function libraryCall<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The library takes any `vocab` and hands its values out as ids; a vocabulary must map to integer ids. */
function checkVocab(model: unknown): void {
  if (!isObject(model) || !('vocab' in model)) return; // the library names what is missing
  const v = model.vocab;
  const ok = Array.isArray(v)
    ? model.type === 'Unigram' // [piece, score] pairs
    : isObject(v) && Object.values(v).every((id) => Number.isSafeInteger(id) && (id as number) >= 0);
  if (!ok) throw new TokenizerError('tokenizer.json: model.vocab must map each token to an integer id');
}

/** added_tokens: each needs an integer id and its text, or the library hands out `undefined` ids. */
function checkAddedTokens(added: unknown): void {
  if (added === undefined) return;
  const ok =
    Array.isArray(added) &&
    added.every(
      (t) =>
        isObject(t) && Number.isSafeInteger(t.id) && (t.id as number) >= 0 && typeof t.content === 'string',
    );
  if (!ok)
    throw new TokenizerError('tokenizer.json: each of added_tokens needs an integer id and its content');
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Builds the tokenizer from whichever files the checkpoint has (tokenizer.json preferred). */
export function loadTokenizer(files: TokenizerFiles): TextTokenizer {
  const config = asJson(files.tokenizerConfig, 'tokenizer_config.json') ?? {};
  if (!isObject(config)) throw new TokenizerError('tokenizer_config.json must hold a JSON object');
  const tj = asJson(files.tokenizerJson, 'tokenizer.json');
  if (tj !== undefined) {
    if (!isObject(tj)) throw new TokenizerError('tokenizer.json must hold a JSON object');
    checkVocab(tj.model);
    checkAddedTokens(tj.added_tokens);
    return libraryCall(
      'tokenizer.json is not a tokenizer this app can read',
      () => new TextTokenizer(tj, config),
    );
  }
  if (files.vocabJson === undefined || files.mergesTxt === undefined) {
    throw new TokenizerError('no tokenizer.json, and vocab.json + merges.txt are not both present');
  }
  const { vocabJson, mergesTxt } = files;
  const built = libraryCall('vocab.json + merges.txt do not make a tokenizer', () =>
    tokenizerJsonFromSlowFiles({
      vocab: asJson(vocabJson, 'vocab.json') as Record<string, number>,
      merges: mergesTxt,
      config,
      addedTokens: asJson(files.addedTokensJson, 'added_tokens.json') as Record<string, number> | undefined,
      specialTokensMap: asJson(files.specialTokensMap, 'special_tokens_map.json'),
    }),
  );
  return libraryCall(
    'vocab.json + merges.txt do not make a tokenizer',
    () => new TextTokenizer(built, config),
  );
}

/** Fetches the tokenizer files through `read` (tokenizer.json first, else the slow files) and loads them. */
export async function readTokenizer(read: TextFileReader): Promise<TextTokenizer> {
  const config = (await read('tokenizer_config.json')) ?? undefined;
  const tokenizerJson = (await read('tokenizer.json')) ?? undefined;
  if (tokenizerJson !== undefined) return loadTokenizer({ tokenizerJson, tokenizerConfig: config });
  const [vocabJson, mergesTxt, addedTokensJson, specialTokensMap] = await Promise.all(
    ['vocab.json', 'merges.txt', 'added_tokens.json', 'special_tokens_map.json'].map(read),
  );
  return loadTokenizer({
    tokenizerConfig: config,
    vocabJson: vocabJson ?? undefined,
    mergesTxt: mergesTxt ?? undefined,
    addedTokensJson: addedTokensJson ?? undefined,
    specialTokensMap: specialTokensMap ?? undefined,
  });
}

export interface SlowTokenizerFiles {
  vocab: Record<string, number>;
  /** merges.txt: optional `#version` header, then one "a b" merge per line, highest priority first. */
  merges: string;
  config: Json;
  addedTokens?: Record<string, number>;
  specialTokensMap?: Json;
}

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

const tokenContent = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'object' && v && 'content' in v ? String(v.content) : undefined;

/** Contents the config or special_tokens_map names as special (eos, pad, additional_special_tokens, …). */
function specialContents(...sources: (Json | undefined)[]): Set<string> {
  const out = new Set<string>();
  for (const src of sources) {
    if (!src) continue;
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const c = tokenContent(src[key]);
      if (c) out.add(c);
    }
    const extra = src.additional_special_tokens;
    if (Array.isArray(extra))
      for (const t of extra) {
        const c = tokenContent(t);
        if (c) out.add(c);
      }
  }
  return out;
}

/**
 * The tokenizer.json object equivalent to Qwen2Tokenizer's slow files: NFC, Qwen2's split regex
 * (Isolated) then ByteLevel without prefix space, BPE over the given vocab/merges, ByteLevel decoding,
 * and the added tokens with the ids the config gives them.
 */
export function tokenizerJsonFromSlowFiles(f: SlowTokenizerFiles): Json {
  const merges: string[] = [];
  for (const raw of f.merges.split('\n')) {
    const line = raw.replace(/\r$/, '');
    // Byte-level tokens never hold a real space, so "a b" splits unambiguously.
    if (line.length === 0 || line.startsWith('#version')) continue;
    const parts = line.split(' ');
    if (parts.length !== 2) throw new TokenizerError(`merges.txt: bad line ${JSON.stringify(line)}`);
    merges.push(line);
  }

  const special = specialContents(f.config, f.specialTokensMap);
  const added = new Map<number, AddedTokenJson>();
  const decoder = f.config.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') {
    for (const [id, t] of Object.entries(decoder as Record<string, Json>)) {
      added.set(Number(id), {
        id: Number(id),
        content: String(t.content),
        single_word: t.single_word === true,
        lstrip: t.lstrip === true,
        rstrip: t.rstrip === true,
        normalized: t.normalized === true,
        special: t.special === true,
      });
    }
  }
  for (const [content, id] of Object.entries(f.addedTokens ?? {})) {
    if (added.has(id)) continue;
    added.set(id, {
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: special.has(content),
    });
  }
  const vocabSize = Object.keys(f.vocab).length;
  // Qwen2Tokenizer always registers <|endoftext|> (its unk/eos/pad default) after the base vocabulary.
  if (![...added.values()].some((t) => t.content === ENDOFTEXT) && !(ENDOFTEXT in f.vocab)) {
    added.set(vocabSize, {
      id: vocabSize,
      content: ENDOFTEXT,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
  }

  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...added.values()].sort((a, b) => a.id - b.id),
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN2_SPLIT_REGEX }, behavior: 'Isolated', invert: false },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: f.vocab,
      merges,
    },
  };
}
