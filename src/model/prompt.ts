/**
 * The R1 prompt (template `qwen2_base`, MODEL.md) and how its ids surround the video tokens.
 *
 * Text: SYSTEM + "USER: <image>\n{user text} ASSISTANT:", where the user text is the question, an
 * optional options block ("Options:\nA. …\nB. …") and the suffix, stripped of outer whitespace as
 * upstream's template does. The text is split on the literal `<image>` and each part is tokenized on
 * its own (no BOS); the connector's embeddings go in between. Part 0 ends with a lone space (220),
 * part 1 starts with "\n" (198). The spliced sequence is cut to tokenizer_model_max_length.
 */
import type { TextTokenizer } from './tokenizer';

export const IMAGE_PLACEHOLDER = '<image>';

export const SYSTEM_PROMPT =
  "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. ";

/** Appended to the question at evaluation (MVBench / Video-MME scripts). */
export const EVAL_SUFFIX =
  '\nOutput the thinking process in <think> </think> and final answer (option) in <answer> </answer> tags.';

/** The GRPO training template's suffix: a space instead of the newline. */
export const TRAIN_SUFFIX =
  ' Output the thinking process in <think> </think> and final answer (option) in <answer> </answer> tags.';

/** tokenizer_model_max_length of the R1 checkpoint. */
export const DEFAULT_MAX_LENGTH = 3072;

/** Ids around the image: part 0 ends with " " (220), part 1 begins with "\n" (198). */
export const SPACE_ID = 220;
export const NEWLINE_ID = 198;

export interface PromptInput {
  question: string;
  /** Option texts, labelled A, B, … in order ("A. text"); a text already labelled with its letter is kept. */
  options?: readonly string[];
  /** Defaults to EVAL_SUFFIX; pass '' for none. */
  suffix?: string;
}

export interface Prompt {
  /** Ids of the text before `<image>`. */
  before: number[];
  /** Ids of the text after `<image>`. */
  after: number[];
  /** The whole prompt text, `<image>` included. */
  text: string;
}

export const optionLetter = (i: number): string => String.fromCharCode(65 + i);

/** "Options:\nA. first\nB. second" */
export function formatOptions(options: readonly string[]): string {
  if (options.length > 26) throw new Error(`formatOptions: ${options.length} options, at most 26`);
  const lines = options.map((o, i) => {
    const text = o.trim();
    const letter = optionLetter(i);
    return new RegExp(`^${letter}\\.\\s`).test(text) ? text : `${letter}. ${text}`;
  });
  return `Options:\n${lines.join('\n')}`;
}

/**
 * The user's turn: question, options block, suffix. As upstream's template does, every literal
 * `<image>` is removed (the one video slot is placed by the template) and outer whitespace is stripped.
 */
export function userText(input: PromptInput): string {
  let q = input.question;
  if (input.options && input.options.length > 0) q += `\n${formatOptions(input.options)}`;
  q += input.suffix ?? EVAL_SUFFIX;
  return q.replaceAll(IMAGE_PLACEHOLDER, '').trim();
}

export function promptText(input: PromptInput): string {
  return `${SYSTEM_PROMPT}USER: ${IMAGE_PLACEHOLDER}\n${userText(input)} ASSISTANT:`;
}

/** Tokenizes the prompt in two parts around the one `<image>` slot, each on its own, without BOS. */
export function buildPrompt(tokenizer: TextTokenizer, input: PromptInput): Prompt {
  const user = userText(input);
  const head = `${SYSTEM_PROMPT}USER: `;
  const tail = `\n${user} ASSISTANT:`;
  return {
    before: tokenizer.encode(head),
    after: tokenizer.encode(tail),
    text: `${head}${IMAGE_PLACEHOLDER}${tail}`,
  };
}

/** How the input sequence is laid out once the video embeddings are spliced in and the length is cut. */
export interface SpliceLayout {
  /** Text ids before the video (kept part). */
  before: number[];
  /** Video embeddings kept (the first `imageTokens` of them). */
  imageTokens: number;
  /** Text ids after the video (kept part). */
  after: number[];
  /** before + imageTokens + after. */
  length: number;
  /** Positions cut from the end to fit maxLength. */
  truncated: number;
  /** Position of the first video embedding in the sequence. */
  imageStart: number;
}

/**
 * Lays out [before ids | N video embeddings | after ids] and keeps the first maxLength positions, as
 * upstream cuts the spliced embeddings (`x[:tokenizer_model_max_length]`): the tail goes first.
 */
export function spliceLayout(
  prompt: Pick<Prompt, 'before' | 'after'>,
  numImageTokens: number,
  maxLength = DEFAULT_MAX_LENGTH,
): SpliceLayout {
  if (!Number.isInteger(numImageTokens) || numImageTokens < 0)
    throw new Error(`spliceLayout: bad N ${numImageTokens}`);
  if (!Number.isInteger(maxLength) || maxLength <= 0)
    throw new Error(`spliceLayout: bad maxLength ${maxLength}`);
  const full = prompt.before.length + numImageTokens + prompt.after.length;
  let room = maxLength;
  const before = prompt.before.slice(0, room);
  room -= before.length;
  const imageTokens = Math.min(numImageTokens, room);
  room -= imageTokens;
  const after = prompt.after.slice(0, room);
  const length = before.length + imageTokens + after.length;
  return { before, imageTokens, after, length, truncated: full - length, imageStart: before.length };
}
