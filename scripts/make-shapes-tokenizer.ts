/**
 * `tsx scripts/make-shapes-tokenizer.ts [--out <dir>]...`: writes the moving-squares demo model's
 * tokenizer.json and tokenizer_config.json (scripts/fixtures/shapes-tokenizer.ts) into each `--out`
 * folder (default test-data/tokenizer-shapes, the committed copy; the demo model build copies it into
 * public/models/tiny-r1-shapes). Deterministic; a test checks the committed copy is up to date.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeShapesTokenizer } from './fixtures/shapes-tokenizer';

export const SHAPES_TOKENIZER_DIR = resolve(import.meta.dirname, '../test-data/tokenizer-shapes');

/** The two files' text, as written. */
export function shapesTokenizerFiles(): Record<string, string> {
  const { tokenizer, tokenizerConfig } = makeShapesTokenizer();
  return {
    'tokenizer.json': `${JSON.stringify(tokenizer, null, 2)}\n`,
    'tokenizer_config.json': `${JSON.stringify(tokenizerConfig, null, 2)}\n`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const outs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) outs.push(resolve(argv[++i]));
    else {
      console.error('usage: tsx scripts/make-shapes-tokenizer.ts [--out <dir>]...');
      process.exit(2);
    }
  }
  const files = shapesTokenizerFiles();
  for (const dir of outs.length ? outs : [SHAPES_TOKENIZER_DIR]) {
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    console.log(`wrote ${Object.keys(files).join(', ')} to ${dir}`);
  }
}
