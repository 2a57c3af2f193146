/**
 * Test support (e2e/output-render.lib.spec.ts): the app's answer view fed a token stream, as the
 * page sees one: each chunk goes through the real reasoning parser and the real reducer into the
 * real store, and <AnswerView> renders it. No engine and no GPU: what is tested is how the page
 * renders whatever text a model writes.
 */
import { createRoot } from 'react-dom/client';
import type { AskEvent } from '../../engine-client';
import { ReasoningParser } from '../../model/reasoning-parser';
import { AnswerView } from '../model/AnswerView';
import { IDLE_ANSWER, reduceAskEvent } from '../model/model-slice';
import { getAppStore } from '../store';

const tick = () => new Promise((r) => setTimeout(r, 0));

export async function streamIntoAnswerView(chunks: string[], options: string[]): Promise<void> {
  const host = document.createElement('div');
  host.id = 'root';
  document.body.append(host);
  createRoot(host).render(<AnswerView />);
  const store = getAppStore();
  store.setState({ answer: { ...IDLE_ANSWER, status: 'running', question: 'What happens?', options } });
  const emit = (e: AskEvent) => store.setState((s) => ({ answer: reduceAskEvent(s.answer, e) }));
  const parser = new ReasoningParser({ options });
  for (const [index, text] of chunks.entries()) {
    emit({ type: 'token', index, id: index, text });
    for (const event of parser.push(text)) emit({ type: 'reasoning', event });
    await tick(); // let React render mid-stream, as it does while a model writes
  }
  for (const event of parser.finish()) emit({ type: 'reasoning', event });
  store.setState((s) => ({ answer: { ...s.answer, status: 'done' } }));
  await tick();
}
