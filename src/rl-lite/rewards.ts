/**
 * GRPO rewards exactly as upstream TinyLLaVA-Video-R1 computes them (MODEL.md, "Rewards"):
 * accuracy ∈ {0, 1}, format ∈ {0} ∪ [0.5, 1], total = acc + (2·acc − 1)·format with 0 → −2.
 *
 * Upstream runs Python regexes; these are transcribed with Python's semantics where JS differs:
 * `.` without DOTALL excludes only "\n" (JS's also excludes \r, U+2028, U+2029), and `\s` / `strip()`
 * use Python's whitespace set. Lengths count code points, as Python's len does.
 * math-verify, which upstream tries first, is not reproduced: it never decides letter answers.
 * These are deliberately stricter than the display parser (src/model/reasoning-parser.ts).
 */

/** Python's str.isspace() set, which is also re's `\s` for str patterns. */
const PY_WS =
  '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');

/** Python's str.strip() with no argument. */
export const pyStrip = (s: string): string => s.replace(PY_STRIP, '');

/** re.search(r'<answer>(.*?)</answer>', s) — first match, not crossing newlines. */
const ANSWER_ONE_LINE = /<answer>([^\n]*?)<\/answer>/;
/** re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", s, re.DOTALL) */
const FORMAT = new RegExp(`^<think>[\\s\\S]*?</think>[${PY_WS}]*<answer>[\\s\\S]*?</answer>$`);
/** re.search(r"<think>(.*?)</think>", s, re.DOTALL) */
const THINK = /<think>([\s\S]*?)<\/think>/;

const count = (s: string, sub: string): number => s.split(sub).length - 1;
const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** The text compared for accuracy: the first one-line <answer>…</answer> content, else the whole text. */
function answerOf(s: string): string {
  const m = ANSWER_ONE_LINE.exec(s);
  return pyStrip(m ? m[1] : s);
}

/**
 * 1 when the completion's answer equals the ground truth's, or its first character does ("B",
 * "B. text", "Because…" all score 1 against `<answer>B</answer>`); else 0.
 */
export function accuracyReward(completion: string, solution: string): number {
  const truth = answerOf(solution);
  const student = answerOf(completion);
  if (student.length === 0) return 0;
  const first = String.fromCodePoint(student.codePointAt(0)!);
  return student === truth || truth === first ? 1 : 0;
}

/**
 * 0 unless the whole completion is <think>…</think> <answer>…</answer> with exactly one of each tag;
 * then 0.5 + 0.5·min(len(think text, stripped) / 1200, 1).
 */
export function formatReward(completion: string): number {
  if (!FORMAT.test(completion)) return 0;
  for (const tag of ['<think>', '</think>', '<answer>', '</answer>'])
    if (count(completion, tag) !== 1) return 0;
  const think = pyStrip(THINK.exec(completion)![1]);
  return 0.5 + Math.min(codePoints(think) / 1200, 1) * 0.5;
}

/** acc + (2·acc − 1)·format; a total of exactly 0 (wrong and unformatted) becomes −2. */
export function totalReward(accuracy: number, format: number): number {
  const r = accuracy + (2 * accuracy - 1) * format;
  return r === 0 ? -2 : r;
}

export interface Rewards {
  accuracy: number;
  format: number;
  total: number;
}

/**
 * Scores one completion as upstream does: `decoded` is the completion decoded with special tokens
 * skipped; it is stripped, then both rewards are computed on the stripped text.
 */
export function scoreCompletion(decoded: string, solution: string): Rewards {
  const content = pyStrip(decoded);
  const accuracy = accuracyReward(content, solution);
  const format = formatReward(content);
  return { accuracy, format, total: totalReward(accuracy, format) };
}
