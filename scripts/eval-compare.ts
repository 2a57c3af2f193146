/**
 * `npm run eval:compare -- <a.jsonl> <b.jsonl> [--data <dataset.jsonl> --by <field>]`
 *
 * Compares two `npm run eval` results on the same items, paired by `problem_id` (say a model before
 * and after fine-tuning): each one's accuracy, the items right in one only, and McNemar's exact test
 * (two-sided binomial on those discordant items), which asks whether the difference is more than
 * chance on this many items. With `--data` and `--by`, the same for each value of that field of the
 * dataset's items (e.g. `--by squares` on an `rl:squares` folder). Writes one JSON line per group to
 * stdout — {"group":"all","n":…,"a":…,"b":…,"only_a":…,"only_b":…,"p":…} — and a summary to stderr.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDataset } from '../src/rl-lite/dataset';

export interface Paired {
  group: string;
  n: number;
  /** Accuracy of a and of b on the paired items. */
  a: number;
  b: number;
  only_a: number;
  only_b: number;
  /** McNemar's exact two-sided p-value. */
  p: number;
}

/** Two-sided exact McNemar p: P(X ≤ min) doubled for X ~ Binomial(only_a + only_b, 1/2), at most 1. */
export function mcnemarExactP(onlyA: number, onlyB: number): number {
  const m = onlyA + onlyB;
  const k = Math.min(onlyA, onlyB);
  let logC = -m * Math.LN2; // log(C(m, 0) / 2^m)
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    tail += Math.exp(logC);
    logC += Math.log(m - i) - Math.log(i + 1);
  }
  return Math.min(1, 2 * tail);
}

/** Reads an eval results file: problem_id → accuracy (0 or 1). */
export function parseResults(text: string, source: string): Map<string, number> {
  const out = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${source}:${i + 1}`;
    let r: { problem_id?: unknown; accuracy?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      throw new Error(`${where}: not valid JSON`);
    }
    if (r.problem_id === undefined) throw new Error(`${where}: missing "problem_id"`);
    if (typeof r.accuracy !== 'number') throw new Error(`${where}: "accuracy" is not a number`);
    const id = String(r.problem_id);
    if (out.has(id)) throw new Error(`${where}: problem_id ${id} repeats`);
    out.set(id, r.accuracy);
  });
  return out;
}

/** The paired comparison of a and b over `ids` (those both answered). */
export function compare(
  group: string,
  a: Map<string, number>,
  b: Map<string, number>,
  ids: Iterable<string>,
): Paired {
  let n = 0;
  let sa = 0;
  let sb = 0;
  let onlyA = 0;
  let onlyB = 0;
  for (const id of ids) {
    const x = a.get(id);
    const y = b.get(id);
    if (x === undefined || y === undefined) continue;
    n++;
    sa += x;
    sb += y;
    if (x > 0 && !(y > 0)) onlyA++;
    if (y > 0 && !(x > 0)) onlyB++;
  }
  return {
    group,
    n,
    a: n ? sa / n : 0,
    b: n ? sb / n : 0,
    only_a: onlyA,
    only_b: onlyB,
    p: mcnemarExactP(onlyA, onlyB),
  };
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { data: { type: 'string' }, by: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || positionals.length !== 2 || Boolean(values.by) !== Boolean(values.data)) {
    console.error('usage: npm run eval:compare -- <a.jsonl> <b.jsonl> [--data <dataset.jsonl> --by <field>]');
    return 2;
  }
  const [fa, fb] = positionals;
  const a = parseResults(readFileSync(fa, 'utf8'), fa);
  const b = parseResults(readFileSync(fb, 'utf8'), fb);
  const rows = [compare('all', a, b, a.keys())];
  if (values.data && values.by) {
    const groups = new Map<string, string[]>();
    for (const item of parseDataset(readFileSync(values.data, 'utf8'), values.data)) {
      const key = `${values.by}=${JSON.stringify(item[values.by] ?? null)}`;
      const ids = groups.get(key) ?? [];
      ids.push(String(item.problem_id));
      groups.set(key, ids);
    }
    for (const [key, ids] of [...groups].sort()) rows.push(compare(key, a, b, ids));
  }
  const unpaired =
    [...a.keys()].filter((id) => !b.has(id)).length + [...b.keys()].filter((id) => !a.has(id)).length;
  if (unpaired) console.error(`eval:compare: ${unpaired} items are in one file only and are left out`);
  for (const r of rows) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    console.error(
      `${r.group}: ${r.n} items, a ${pct(r.a)}, b ${pct(r.b)}; right only in a ${r.only_a}, only in b ${r.only_b}; McNemar exact p = ${r.p.toPrecision(2)}`,
    );
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`eval:compare: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
