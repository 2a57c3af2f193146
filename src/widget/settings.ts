/**
 * The widget's attributes read into what the engine takes (pure, unit-tested): numbers clamped to
 * sensible ranges, and a question written with its options inline ("…\nOptions:\nA. left\nB. right")
 * split into the question and the option texts, so the answer's letter can be read back.
 */

/** An attribute as a number in [min, max]; `fallback` when absent or not a number. */
export function numberAttr(value: string | null, fallback: number, min: number, max: number): number {
  if (value === null || value.trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}

export interface SplitQuestion {
  question: string;
  options: string[];
}

/** "Which way…?\nOptions:\nA. left\nB. right" → { question: 'Which way…?', options: ['left', 'right'] }. */
export function splitQuestion(text: string): SplitQuestion {
  const m = /\n\s*Options:\s*\n/i.exec(text);
  if (!m) return { question: text.trim(), options: [] };
  const options = text
    .slice(m.index + m[0].length)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.replace(/^\(?[A-Za-z]\s*[.):]\s+/, '').trim());
  return { question: text.slice(0, m.index).trim(), options };
}
