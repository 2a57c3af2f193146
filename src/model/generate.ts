import { sampleToHost } from '../gpu/kernels/sample/sample';
import type { Tensor } from '../gpu/tensor';
import { Detokenizer } from './detokenizer';
import { type DoneEvent, type ParserOptions, type ReasoningEvent, ReasoningParser } from './reasoning-parser';
import { resolveSampling, SamplerRng, type SamplingOptions } from './sampling';
import type { TinyLlavaVideo } from './tinyllava';
import type { TextTokenizer } from './tokenizer';

export interface GenerateRequest {
  before: number[];
  after: number[];
  /** Visual tokens [numQueries, C] from the connector, or null for text only. */
  visual: Tensor | null;
  sampling: SamplingOptions;
  /** Stop ids (`<|endoftext|>`). */
  eosIds: number[];
  /**
   * Sequences drawn from the one prompt (GRPO's G completions): the prompt is prefilled once, then
   * `fork(B)` continues it as B sequences stepped together. Default 1.
   */
  batch?: number;
  /** How the think / answer parser reads option letters (the question's options). */
  parser?: ParserOptions;
  signal?: AbortSignal;
  /** Keep every step's logits (for comparisons with references; costs a readback per step). */
  keepLogits?: boolean;
}

export interface GenerateStats {
  promptTokens: number;
  /** Tokens generated, over all sequences (stop ids not counted). */
  newTokens: number;
  /** Decode steps run (each samples one token of every sequence). */
  steps: number;
  prefillMs: number;
  decodeMs: number;
  /** From the call to the first sampled token. */
  timeToFirstTokenMs: number;
  /** Tokens after each sequence's first, per second of decode (all sequences together). */
  tokensPerSecond: number;
}

export interface SequenceResult {
  ids: number[];
  text: string;
  done: DoneEvent;
  stoppedBy: 'eos' | 'length' | 'cancel';
}

export interface GenerateResult {
  /** One per sequence, in order. */
  sequences: SequenceResult[];
  stats: GenerateStats;
  /** One [B·V] array per sampled position when keepLogits is set. */
  logits: Float32Array[];
}

export interface GenerateCallbacks {
  /** Each sampled token of sequence `seq` with the text it completed ('' while a UTF-8 character is split). */
  onToken?: (id: number, text: string, seq: number) => void;
  /** Think / answer deltas and the final done event of sequence `seq`. */
  onReasoning?: (e: ReasoningEvent, seq: number) => void;
  /** The first token was sampled: prefill is over (its time, ms since the call). */
  onPrefilled?: (ms: number) => void;
  /** Wraps the recording of each decode step (benchmarks time it); must return what `record` returns. */
  recordStep?: (record: () => Tensor) => Tensor;
}

/** History filler for a finished sequence: ids ≥ V are ignored by the repetition penalty. */
const NO_ID = 0xffffffff;

const now = () => performance.now();

/** One sequence's decoding state: its ids, its text as it streams, and its think / answer parse. */
class Sequence {
  readonly ids: number[] = [];
  stoppedBy: SequenceResult['stoppedBy'] | null = null;
  private readonly detok: Detokenizer | null;
  private readonly parser: ReasoningParser;
  private done: DoneEvent | null = null;

  constructor(
    tokenizer: TextTokenizer | null,
    parser: ParserOptions | undefined,
    private readonly index: number,
    private readonly cb: GenerateCallbacks,
  ) {
    this.detok = tokenizer && Detokenizer.for(tokenizer);
    this.parser = new ReasoningParser(parser);
  }

  push(id: number): void {
    this.ids.push(id);
    const text = this.detok?.push(id) ?? '';
    this.cb.onToken?.(id, text, this.index);
    if (text) this.emit(this.parser.push(text));
  }

  finish(): SequenceResult {
    const tail = this.detok?.flush();
    if (tail) this.emit(this.parser.push(tail));
    this.emit(this.parser.finish());
    return {
      ids: this.ids,
      text: this.detok?.textSoFar ?? '',
      done: this.done!,
      stoppedBy: this.stoppedBy ?? 'length',
    };
  }

  private emit(events: ReasoningEvent[]): void {
    for (const e of events) {
      if (e.type === 'done') this.done = e;
      this.cb.onReasoning?.(e, this.index);
    }
  }
}

/**
 * Prefill once, then decode 1 or B sequences token by token with GPU sampling; only the sampled ids
 * are read back per step. The sequences step in lockstep: one that stops keeps stepping on padding
 * until all have stopped. The repetition penalty sees generated tokens only (the upstream model
 * generates from inputs_embeds, so Hugging Face's penalty sees no prompt ids).
 */
export async function generate(
  model: TinyLlavaVideo,
  /** null: ids only, no text (benchmarks on random vocabularies). */
  tokenizer: TextTokenizer | null,
  req: GenerateRequest,
  cb: GenerateCallbacks = {},
): Promise<GenerateResult> {
  const { ctx, llm } = model;
  const B = req.batch ?? 1;
  if (!Number.isInteger(B) || B < 1) throw new Error(`generate: batch ${B}`);
  const sampling = resolveSampling(req.sampling);
  const rng = new SamplerRng(req.sampling.seed);
  const seqs = Array.from({ length: B }, (_, b) => new Sequence(tokenizer, req.parser, b, cb));
  const history: number[][] = seqs.map(() => []);
  const logitsKept: Float32Array[] = [];
  const t0 = now();
  let logits: Tensor | null = model.prefill(req.before, req.visual, req.after);
  const promptTokens = llm.length;
  if (B > 1) {
    model.fork(B);
    logits = repeatRows(model, logits, B); // every sequence draws its first token from the prompt's logits
  }
  let prefillMs = 0;
  let decodeStart = 0;
  let steps = 0;
  const live = () => seqs.filter((s) => s.stoppedBy === null);
  try {
    for (let step = 0; logits && step < req.sampling.maxNewTokens; step++) {
      if (req.signal?.aborted) {
        for (const s of live()) s.stoppedBy = 'cancel';
        break;
      }
      if (req.keepLogits) logitsKept.push(await ctx.read(logits));
      const L = history[0].length;
      const prev =
        sampling.penalty !== 1 && L > 0 ? ctx.upload(Uint32Array.from(history.flat()), [B, L], 'u32') : null;
      const sampled = await sampleToHost(ctx, logits, sampling, prev, rng.uniforms(B));
      if (prev) ctx.release(prev);
      ctx.release(logits);
      logits = null;
      steps++;
      if (step === 0) {
        prefillMs = now() - t0;
        decodeStart = now();
        cb.onPrefilled?.(prefillMs);
      }
      const next: number[] = [];
      for (const [b, s] of seqs.entries()) {
        const id = sampled[b];
        if (s.stoppedBy === null && req.eosIds.includes(id)) s.stoppedBy = 'eos';
        if (s.stoppedBy !== null) {
          history[b].push(NO_ID);
          next.push(req.eosIds[0] ?? id);
          continue;
        }
        s.push(id);
        history[b].push(id);
        next.push(id);
      }
      if (live().length === 0 || step + 1 >= req.sampling.maxNewTokens || llm.length >= llm.maxLength) break;
      const record = () => model.stepBatch(next);
      logits = cb.recordStep ? cb.recordStep(record) : record();
    }
  } finally {
    // A cancelled or failed run must not leave the last logits allocated.
    if (logits) ctx.release(logits);
  }
  const sequences = seqs.map((s) => s.finish());
  const decodeMs = decodeStart ? now() - decodeStart : 0;
  const newTokens = sequences.reduce((n, s) => n + s.ids.length, 0);
  return {
    sequences,
    logits: logitsKept,
    stats: {
      promptTokens,
      newTokens,
      steps,
      prefillMs,
      decodeMs,
      timeToFirstTokenMs: prefillMs,
      tokensPerSecond: newTokens > B && decodeMs > 0 ? ((newTokens - B) * 1000) / decodeMs : 0,
    },
  };
}

/** logits [1, V] → [B, V] (the row repeated); releases the input. */
function repeatRows(model: TinyLlavaVideo, logits: Tensor, B: number): Tensor {
  const { ctx } = model;
  const out = ctx.empty([B, logits.shape[1]], logits.dtype);
  for (let b = 0; b < B; b++) ctx.copyRegion(logits, 0, out, b * logits.byteLength, logits.byteLength);
  ctx.release(logits);
  return out;
}
