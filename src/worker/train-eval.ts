/**
 * Before / after evaluation: greedy answers to each item with whatever adapter the caller merged into
 * the model, scored with the upstream rewards (accuracy, format) as the trainer scores rollouts.
 */
import type { EvalResult, TrainItem } from '../engine-client/protocol';
import { generate } from '../model/generate';
import { parseReasoning } from '../model/reasoning-parser';
import { GREEDY } from '../model/sampling';
import type { GrpoItem } from '../rl-lite/grpo';
import { scoreCompletion } from '../rl-lite/rewards';
import type { LoadedModel } from './model-load';

export async function evaluate(
  loaded: LoadedModel,
  prompts: readonly GrpoItem[],
  items: readonly TrainItem[],
  maxNewTokens: number,
): Promise<EvalResult> {
  const t0 = performance.now();
  const answers: EvalResult['answers'] = [];
  for (const [i, p] of prompts.entries()) {
    const r = await generate(loaded.model, loaded.tokenizer, {
      before: p.before,
      after: p.after,
      visual: p.visual,
      sampling: { ...GREEDY, maxNewTokens },
      eosIds: loaded.eosIds,
    });
    const text = r.sequences[0].text;
    const done = parseReasoning(text);
    const score = scoreCompletion(text, p.solution);
    answers.push({
      problemId: items[i].problem_id,
      completion: text,
      question: items[i].problem,
      solution: items[i].solution,
      think: done.thinkText,
      answer: done.answerText || done.answer,
      accuracy: score.accuracy,
      format: score.format,
    });
  }
  const n = Math.max(1, answers.length);
  return {
    adapter: '',
    accuracy: answers.reduce((s, a) => s + a.accuracy, 0) / n,
    formatRate: answers.filter((a) => a.format > 0).length / n,
    answers,
    ms: performance.now() - t0,
  };
}
