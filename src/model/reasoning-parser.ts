/**
 * Streams the model's text into think / answer events and extracts the chosen option.
 *
 * Rules (R1 outputs look like "<think>\n…\n</think>\n<answer>B</answer>"):
 * - Before the first `<answer>`, all text outside tags is thinking: a missing `<think>`, text between
 *   `</think>` and `<answer>`, several think blocks — all of it streams as 'think'. `<think>` and
 *   `</think>` themselves are dropped. Events are never retracted, so nothing is held back waiting
 *   for a later tag.
 * - The first `<answer>` opens the answer; it runs to the first `</answer>` or to the end of the
 *   stream (unclosed). Inside it only `</answer>` is a tag; anything else is answer text.
 * - After the first `</answer>`, text is trailing: no events, kept in `done.trailingText`.
 * - Tags may arrive split across chunks ("<thi" + "nk>"): a chunk tail that could begin a tag is
 *   held until the next chunk decides.
 * - Whitespace: each section is trimmed at both ends; inner whitespace is kept. Deltas hold back
 *   trailing whitespace until more text follows, so the concatenated deltas equal the done texts.
 * - `done.answer` is the text the option is read from: the answer text when `<answer>` appeared,
 *   otherwise whatever followed the last `</think>` (a model that forgot the answer tags), else ''.
 */

export interface ThinkEvent {
  type: 'think';
  text: string;
}
export interface AnswerEvent {
  type: 'answer';
  text: string;
}
export interface DoneEvent {
  type: 'done';
  /** The final answer the option was read from (see the rules above). */
  answer: string;
  /** 'A', 'B', … or null when none could be read. */
  option: string | null;
  thinkText: string;
  answerText: string;
  /** An `<answer>` tag was seen / it was closed. */
  answerOpened: boolean;
  answerClosed: boolean;
  /** Raw text after the first `</answer>`, trimmed. */
  trailingText: string;
}
export type ReasoningEvent = ThinkEvent | AnswerEvent | DoneEvent;

export interface ParserOptions {
  /** Number of options (letters A… beyond it are not answers). */
  numOptions?: number;
  /** Option texts, to recognise an answer given as the option's text. */
  options?: readonly string[];
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
const ANSWER_OPEN = '<answer>';
const ANSWER_CLOSE = '</answer>';
const OUTSIDE_TAGS = [THINK_OPEN, THINK_CLOSE, ANSWER_OPEN] as const;
const INSIDE_TAGS = [ANSWER_CLOSE] as const;

/** Emits a section's text trimmed at both ends, holding back trailing whitespace until text follows. */
class TrimmedSection {
  private started = false;
  private pendingWs = '';
  text = '';

  push(s: string): string {
    let t = s;
    if (!this.started) {
      t = t.trimStart();
      if (!t) return '';
      this.started = true;
    }
    const body = t.trimEnd();
    if (!body) {
      this.pendingWs += t;
      return '';
    }
    const out = this.pendingWs + body;
    this.pendingWs = t.slice(body.length);
    this.text += out;
    return out;
  }
}

/** Length of the longest tail of `s` that is a proper prefix of one of `tags`. */
function partialTagTail(s: string, tags: readonly string[]): number {
  const start = s.lastIndexOf('<');
  if (start < 0) return 0;
  const tail = s.slice(start);
  return tags.some((t) => t.length > tail.length && t.startsWith(tail)) ? tail.length : 0;
}

export class ReasoningParser {
  private mode: 'outside' | 'answer' | 'after' = 'outside';
  private buf = '';
  private readonly think = new TrimmedSection();
  private readonly answerSec = new TrimmedSection();
  /** Raw text since the last `</think>` (outside the answer), for the no-answer-tag fallback. */
  private afterThinkClose: string | null = null;
  private answerOpened = false;
  private answerClosed = false;
  private trailing = '';
  private finished = false;

  constructor(private readonly opts: ParserOptions = {}) {}

  push(chunk: string): ReasoningEvent[] {
    if (this.finished) throw new Error('ReasoningParser: push after finish');
    this.buf += chunk;
    const events: ReasoningEvent[] = [];
    this.drain(events, false);
    return events;
  }

  /** Ends the stream: flushes held text and returns the final events, ending with 'done'. */
  finish(): ReasoningEvent[] {
    if (this.finished) throw new Error('ReasoningParser: finish twice');
    const events: ReasoningEvent[] = [];
    this.drain(events, true);
    this.finished = true;
    const answerText = this.answerSec.text;
    const answer = this.answerOpened ? answerText : (this.afterThinkClose ?? '').trim();
    events.push({
      type: 'done',
      answer,
      option: extractOption(answer, this.opts),
      thinkText: this.think.text,
      answerText,
      answerOpened: this.answerOpened,
      answerClosed: this.answerClosed,
      trailingText: this.trailing.trim(),
    });
    return events;
  }

  private drain(events: ReasoningEvent[], final: boolean): void {
    while (this.buf) {
      if (this.mode === 'after') {
        this.trailing += this.buf;
        this.buf = '';
        return;
      }
      const tags = this.mode === 'outside' ? OUTSIDE_TAGS : INSIDE_TAGS;
      let at = -1;
      let tag = '';
      for (const t of tags) {
        const i = this.buf.indexOf(t);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          tag = t;
        }
      }
      if (at < 0) {
        const hold = final ? 0 : partialTagTail(this.buf, tags);
        this.text(this.buf.slice(0, this.buf.length - hold), events);
        this.buf = this.buf.slice(this.buf.length - hold);
        return;
      }
      this.text(this.buf.slice(0, at), events);
      this.buf = this.buf.slice(at + tag.length);
      this.tag(tag);
    }
  }

  private text(s: string, events: ReasoningEvent[]): void {
    if (!s) return;
    if (this.mode === 'outside') {
      if (this.afterThinkClose !== null) this.afterThinkClose += s;
      const d = this.think.push(s);
      if (d) events.push({ type: 'think', text: d });
    } else if (this.mode === 'answer') {
      const d = this.answerSec.push(s);
      if (d) events.push({ type: 'answer', text: d });
    }
  }

  private tag(tag: string): void {
    if (tag === THINK_CLOSE) this.afterThinkClose = '';
    else if (tag === THINK_OPEN) this.afterThinkClose = null;
    else if (tag === ANSWER_OPEN) {
      this.mode = 'answer';
      this.answerOpened = true;
    } else if (tag === ANSWER_CLOSE) {
      this.mode = 'after';
      this.answerClosed = true;
    }
  }
}

/** One-shot parse of a complete output. */
export function parseReasoning(text: string, opts: ParserOptions = {}): DoneEvent {
  const p = new ReasoningParser(opts);
  p.push(text);
  const events = p.finish();
  return events[events.length - 1] as DoneEvent;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The option letter an answer names, or null. Accepted, in order: a lone letter ("B", "b", "B.",
 * "(B)", "B)", "B:", "**B**"), a letter followed by its text ("B. a dog", "(B) a dog"), a bracketed
 * letter anywhere ("I pick (B)"), "answer is B" / "option B", the text of exactly one option, and
 * finally an uppercase letter followed by a space ("B because …", as the reward's first-character
 * rule would read it). Letters beyond `numOptions` (or the options' count) are ignored.
 */
export function extractOption(answer: string, opts: ParserOptions = {}): string | null {
  const n = opts.numOptions ?? opts.options?.length ?? 26;
  const valid = (c: string | undefined): string | null => {
    if (!c) return null;
    const u = c.toUpperCase();
    return u.charCodeAt(0) - 65 < n ? u : null;
  };
  const s = answer.trim().replace(/^[\s"'*`_]+|[\s"'*`_]+$/g, '');
  if (!s) return null;

  let m = /^\(?([A-Za-z])\)?[.:)\]]?$/.exec(s);
  if (m) return valid(m[1]);
  m = /^\(([A-Za-z])\)|^([A-Z])[.:)\]]/.exec(s);
  if (m) return valid(m[1] ?? m[2]);
  m = /\(([A-Z])\)/.exec(s);
  if (m && valid(m[1])) return valid(m[1]);
  m = /\b(?:answer|option|choice)(?:\s+is)?\s*[:\s]\s*(?:\(([A-Za-z])\)|([A-Z])\b)/i.exec(s);
  const said = m?.[1] ?? (m?.[2] && /[A-Z]/.test(m[2]) ? m[2] : undefined);
  if (valid(said)) return valid(said);
  if (opts.options) {
    const hits = opts.options
      .map((o, i) => ({
        i,
        o: o
          .trim()
          .replace(/^[A-Z]\.\s+/, '')
          .replace(/[.!?。]+$/, ''),
      }))
      .filter(({ o }) => o && new RegExp(`(^|\\W)${escapeRe(o)}(\\W|$)`, 'i').test(s));
    if (hits.length === 1) return valid(String.fromCharCode(65 + hits[0].i));
  }
  m = /^([A-Z])\s/.exec(s);
  if (m) return valid(m[1]);
  return null;
}
