/**
 * Datasets in the paper's JSONL: one JSON object a line with `problem` (the question, options included),
 * `solution` (`<answer>X</answer>`), `video_filename` (relative to the JSONL's folder unless told
 * otherwise) and `problem_id`; plus our optional `think`, the reasoning text of a cold-start SFT target
 * (without its tags), which other readers ignore. Unknown fields are kept as they are.
 *
 * Parsing and formatting only (no file system): the CLIs and the page read and write the text.
 */

export interface DatasetItem {
  problem: string;
  /** `<answer>X</answer>`. */
  solution: string;
  video_filename: string;
  problem_id: number | string;
  /** Reasoning of the SFT target, the text inside <think> </think>. */
  think?: string;
  [extra: string]: unknown;
}

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** A solution the rewards can score: one `<answer>…</answer>` with something inside. */
const SOLUTION = /^<answer>[^\n]*\S[^\n]*<\/answer>$/;

/** Checks one parsed line; returns what is wrong, or null. */
function problemOf(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  for (const key of ['problem', 'solution', 'video_filename'] as const) {
    if (!(key in o)) return `missing "${key}"`;
    if (typeof o[key] !== 'string') return `"${key}" is ${typeName(o[key])}, not a string`;
    if ((o[key] as string).trim() === '') return `"${key}" is empty`;
  }
  if (!SOLUTION.test(o.solution as string))
    return `"solution" is ${JSON.stringify(o.solution)}, not "<answer>X</answer>"`;
  if (!('problem_id' in o)) return 'missing "problem_id"';
  const id = o.problem_id;
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id))))
    return `"problem_id" is ${typeName(id)}, not an integer or a string`;
  if ('think' in o && typeof o.think !== 'string') return `"think" is ${typeName(o.think)}, not a string`;
  return null;
}

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'number' ? `the number ${v}` : typeof v;

/**
 * Parses a dataset's JSONL text; blank lines are skipped. Throws a DatasetError naming `source` and
 * the line (1-based) of the first bad line, or of a repeated problem_id.
 */
export function parseDataset(text: string, source = 'dataset'): DatasetItem[] {
  const items: DatasetItem[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;
    const where = `${source}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DatasetError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    const problem = problemOf(v);
    if (problem) throw new DatasetError(`${where}: ${problem}`);
    const item = v as DatasetItem;
    const key = `${typeof item.problem_id}:${item.problem_id}`;
    const first = seen.get(key);
    if (first !== undefined)
      throw new DatasetError(`${where}: problem_id ${JSON.stringify(item.problem_id)} repeats line ${first}`);
    seen.set(key, i + 1);
    items.push(item);
  }
  return items;
}

/** One JSON object a line, fields in the paper's order, then `think`, then any others; ends with "\n". */
export function formatDataset(items: readonly DatasetItem[]): string {
  return items
    .map((it) => {
      const { problem, solution, video_filename, problem_id, think, ...rest } = it;
      const ordered: Record<string, unknown> = { problem, solution, video_filename, problem_id };
      if (think !== undefined) ordered.think = think;
      return `${JSON.stringify({ ...ordered, ...rest })}\n`;
    })
    .join('');
}

/** A completion in the trained format: `<think>{think}</think><answer>X</answer>`. */
export const thinkThenAnswer = (think: string, solution: string): string =>
  `<think>${think}</think>${solution}`;

/** The cold-start SFT target of an item: `<think>{think}</think><answer>X</answer>`. */
export function sftTarget(item: DatasetItem): string {
  if (item.think === undefined)
    throw new DatasetError(`problem ${JSON.stringify(item.problem_id)} has no "think" for an SFT target`);
  return thinkThenAnswer(item.think, item.solution);
}
