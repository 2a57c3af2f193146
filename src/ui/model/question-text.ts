/**
 * A question written with its options inline, as the demo model was trained ("Which way…?\nOptions:\n
 * A. left\nB. right…"), split into the question and the option texts (pure; the page's sample clips and
 * the widget both use it), so the prompt formats them once and the answer's letter can be read back.
 */
import { parseOptionLines } from './model-slice';

export interface SplitQuestion {
  question: string;
  options: string[];
}

export function splitQuestion(text: string): SplitQuestion {
  const m = /\n\s*Options:\s*\n/i.exec(text);
  if (!m) return { question: text.trim(), options: [] };
  return {
    question: text.slice(0, m.index).trim(),
    options: parseOptionLines(text.slice(m.index + m[0].length)),
  };
}

/** Option texts as the options box shows them: "A. left\nB. right". */
export function optionLines(options: readonly string[]): string {
  return options.map((o, i) => `${String.fromCharCode(65 + i)}. ${o}`).join('\n');
}
