/**
 * Incremental detokenization that never splits a UTF-8 character.
 *
 * Decoding token by token gives U+FFFD wherever a character's bytes span two tokens (emoji, CJK). So
 * each id is mapped to its raw bytes — BPE tokens through GPT-2's byte↔unicode table, added tokens as
 * their UTF-8 content — and the bytes go through one TextDecoder in streaming mode, which holds an
 * incomplete character back until its last byte arrives.
 */
import type { TextTokenizer } from './tokenizer';

/** GPT-2's byte → printable character table: printable Latin-1 bytes map to themselves, the rest to 256+. */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
}

let unicodeToByte: Map<string, number> | null = null;

/** Bytes of a byte-level token string (e.g. "Ġhello" → " hello"); null if a character is outside the table. */
export function byteLevelToBytes(token: string): Uint8Array | null {
  if (!unicodeToByte) {
    unicodeToByte = new Map(bytesToUnicode().map((ch, b) => [ch, b]));
  }
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = unicodeToByte.get(token[i]);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** Maps ids to their bytes, with a cache (the same few thousand ids recur in generated text). */
export class TokenBytes {
  private readonly cache = new Map<number, Uint8Array>();

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** The bytes id stands for; empty for skipped special tokens and for ids with no token (padding rows). */
  bytes(id: number, skipSpecialTokens: boolean): Uint8Array {
    const added = this.tokenizer.addedTokens.get(id);
    if (added) return skipSpecialTokens && added.special ? EMPTY : utf8.encode(added.content);
    let b = this.cache.get(id);
    if (!b) {
      const tok = this.tokenizer.idToToken(id);
      b = tok === undefined ? EMPTY : (byteLevelToBytes(tok) ?? utf8.encode(tok));
      this.cache.set(id, b);
    }
    return b;
  }
}

export interface DetokenizerOptions {
  /** Drop special added tokens (`<|endoftext|>` …) as the reward and eval decoding do. Default true. */
  skipSpecialTokens?: boolean;
}

/**
 * Streaming decoder for one sequence: `push(id)` returns the text that became complete with this
 * token ('' while a character is still split); `flush()` returns what is left (an incomplete trailing
 * character becomes U+FFFD, as a full decode would). The concatenated increments equal the full decode.
 */
export class Detokenizer {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private readonly skip: boolean;
  private text = '';

  constructor(
    private readonly tokenBytes: TokenBytes,
    opts: DetokenizerOptions = {},
  ) {
    this.skip = opts.skipSpecialTokens ?? true;
  }

  static for(tokenizer: TextTokenizer, opts?: DetokenizerOptions): Detokenizer {
    return new Detokenizer(new TokenBytes(tokenizer), opts);
  }

  push(id: number): string {
    const piece = this.decoder.decode(this.tokenBytes.bytes(id, this.skip), { stream: true });
    this.text += piece;
    return piece;
  }

  pushMany(ids: Iterable<number>): string {
    let s = '';
    for (const id of ids) s += this.push(id);
    return s;
  }

  flush(): string {
    const piece = this.decoder.decode();
    this.text += piece;
    return piece;
  }

  /** Everything emitted so far. */
  get textSoFar(): string {
    return this.text;
  }
}

/** Whole-sequence decode through the same byte path (what the concatenated stream must equal). */
export function decodeIds(
  tokenizer: TextTokenizer,
  ids: Iterable<number>,
  opts?: DetokenizerOptions,
): string {
  const d = Detokenizer.for(tokenizer, opts);
  return d.pushMany(ids) + d.flush();
}
