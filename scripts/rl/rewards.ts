/**
 * `npm run rl:rewards -- <completions.jsonl | ->`
 *
 * Scores completions with the GRPO rewards exactly as upstream computes them (src/rl-lite/rewards.ts):
 * each input line is a JSON object with `completion` (decoded without special tokens) and `solution`
 * (`<answer>X</answer>`); other fields are ignored. Writes one JSON line per input, in order:
 * {"accuracy":1,"format":0.55,"total":1.55}. Blank lines are skipped. Every line is checked before
 * anything is written: a bad line is reported with its number and the exit code is 1. A summary goes
 * to stderr.
 */
import { readFileSync } from 'node:fs';
import { type Rewards, scoreCompletion } from '../../src/rl-lite/rewards';

function usage(msg?: string): never {
  if (msg) console.error(`rl:rewards: ${msg}`);
  console.error('usage: npm run rl:rewards -- <completions.jsonl>   (- reads stdin)');
  process.exit(2);
}

/** Scores every non-blank line; returns the errors instead when any line is bad. */
export function scoreLines(text: string, source: string): { rewards: Rewards[] } | { errors: string[] } {
  const rewards: Rewards[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const where = `${source}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      errors.push(`${where}: not valid JSON (${(e as Error).message})`);
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      errors.push(`${where}: not a JSON object`);
      return;
    }
    const o = v as Record<string, unknown>;
    const bad = ['completion', 'solution'].find((k) => typeof o[k] !== 'string');
    if (bad) {
      errors.push(`${where}: ${bad in o ? `"${bad}" is not a string` : `missing "${bad}"`}`);
      return;
    }
    rewards.push(scoreCompletion(o.completion as string, o.solution as string));
  });
  return errors.length ? { errors } : { rewards };
}

function main(argv: string[]): number {
  if (argv.length !== 1 || argv[0] === '--help' || argv[0] === '-h') usage();
  const path = argv[0];
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (e) {
    console.error(
      `rl:rewards: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
    return 1;
  }
  const result = scoreLines(text, path === '-' ? 'stdin' : path);
  if ('errors' in result) {
    for (const e of result.errors.slice(0, 10)) console.error(`rl:rewards: ${e}`);
    if (result.errors.length > 10)
      console.error(`rl:rewards: … and ${result.errors.length - 10} more bad lines`);
    console.error('rl:rewards: each line needs {"completion": "<text>", "solution": "<answer>X</answer>"}');
    return 1;
  }
  const { rewards } = result;
  process.stdout.write(rewards.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const mean = (k: keyof Rewards) => rewards.reduce((s, r) => s + r[k], 0) / Math.max(rewards.length, 1);
  console.error(
    `${rewards.length} completions: accuracy ${mean('accuracy').toFixed(3)}, format ${mean('format').toFixed(3)}, total ${mean('total').toFixed(3)} (means)`,
  );
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
