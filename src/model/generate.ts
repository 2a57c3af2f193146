import { sampleToHost } from '../gpu/kernels/sample';
import type { Tensor } from '../gpu/tensor';
import { Detokenizer } from './detokenizer';
import { type DoneEvent, type ReasoningEvent, ReasoningParser } from './reasoning-parser';
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
  signal?: AbortSignal;
  /** Keep every step's logits (for comparisons with references; costs a readback per step). */
  keepLogits?: boolean;
}

export interface GenerateStats {
  promptTokens: number;
  newTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** From the call to the first sampled token. */
  timeToFirstTokenMs: number;
  tokensPerSecond: number;
}

export interface GenerateResult {
  ids: number[];
  text: string;
  done: DoneEvent;
  stats: GenerateStats;
  stoppedBy: 'eos' | 'length' | 'cancel';
  /** One full-vocabulary array per sampled position when keepLogits is set. */
  logits: Float32Array[];
}

export interface GenerateCallbacks {
  /** Each sampled token with the text it completed ('' while a UTF-8 character is split). */
  onToken?: (id: number, text: string) => void;
  /** Think / answer deltas and the final done event. */
  onReasoning?: (e: ReasoningEvent) => void;
}

const now = () => performance.now();

/** Prefill, then decode token by token with GPU sampling; only the sampled id is read back per step. */
export async function generate(
  model: TinyLlavaVideo,
  tokenizer: TextTokenizer,
  req: GenerateRequest,
  cb: GenerateCallbacks = {},
): Promise<GenerateResult> {
  const { ctx } = model;
  const sampling = resolveSampling(req.sampling);
  const rng = new SamplerRng(req.sampling.seed);
  const detok = Detokenizer.for(tokenizer);
  const parser = new ReasoningParser();
  const emit = (events: ReasoningEvent[]) => {
    for (const e of events) cb.onReasoning?.(e);
  };
  const history = [...req.before, ...req.after];
  const ids: number[] = [];
  const logitsKept: Float32Array[] = [];
  const t0 = now();
  let logits: Tensor | null = model.prefill(req.before, req.visual, req.after);
  const promptTokens = model.llm.length;
  let prefillMs = 0;
  let ttft = 0;
  let stoppedBy: GenerateResult['stoppedBy'] = 'length';
  let decodeStart = 0;
  try {
    for (let step = 0; logits && step < req.sampling.maxNewTokens; step++) {
      if (req.signal?.aborted) {
        stoppedBy = 'cancel';
        break;
      }
      if (req.keepLogits) logitsKept.push(await ctx.read(logits));
      let prev: Tensor | null = null;
      if (sampling.penalty !== 1) prev = ctx.upload(Uint32Array.from(history), [1, history.length], 'u32');
      const [id] = await sampleToHost(ctx, logits, sampling, prev, rng.uniforms(1));
      if (prev) ctx.release(prev);
      ctx.release(logits);
      logits = null;
      if (step === 0) {
        prefillMs = now() - t0;
        ttft = prefillMs;
        decodeStart = now();
      }
      if (req.eosIds.includes(id)) {
        stoppedBy = 'eos';
        break;
      }
      ids.push(id);
      history.push(id);
      const text = detok.push(id);
      cb.onToken?.(id, text);
      if (text) emit(parser.push(text));
      if (step + 1 >= req.sampling.maxNewTokens || model.llm.length >= model.llm.maxLength) break;
      logits = model.step(id);
    }
  } finally {
    // A cancelled or failed run must not leave the last logits allocated.
    if (logits) ctx.release(logits);
  }
  const tail = detok.flush();
  if (tail) emit(parser.push(tail));
  const finalEvents = parser.finish();
  emit(finalEvents);
  const done = finalEvents.find((e): e is DoneEvent => e.type === 'done')!;
  const decodeMs = decodeStart ? now() - decodeStart : 0;
  return {
    ids,
    text: detok.textSoFar,
    done,
    stoppedBy,
    logits: logitsKept,
    stats: {
      promptTokens,
      newTokens: ids.length,
      prefillMs,
      decodeMs,
      timeToFirstTokenMs: ttft,
      tokensPerSecond: ids.length > 1 && decodeMs > 0 ? ((ids.length - 1) * 1000) / decodeMs : 0,
    },
  };
}
