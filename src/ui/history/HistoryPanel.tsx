import { useCallback, useEffect, useRef, useState } from 'react';
import { formatTime } from '../format';
import type { AnswerState } from '../model/model-slice';
import { useApp } from '../store';
import { addEntry, clearFor, entriesFor, type HistoryEntry, videoKeyOf } from './history-db';

/** Earlier questions and answers on this video (or text only), kept across reloads; clearable. */
export function HistoryPanel() {
  const facts = useApp((s) => s.video?.facts ?? null);
  const answer = useApp((s) => s.answer);
  const model = useApp((s) => s.model?.name ?? '');
  const key = videoKeyOf(facts);
  const [entries, setEntries] = useState<HistoryEntry[]>([]);
  const [unavailable, setUnavailable] = useState(false);
  const recorded = useRef<AnswerState | null>(null);

  const reload = useCallback(async () => {
    try {
      setEntries(await entriesFor(key));
      setUnavailable(false);
    } catch {
      setUnavailable(true);
    }
  }, [key]);
  useEffect(() => void reload(), [reload]);

  // Each finished answer once (a stopped or failed one is not kept).
  useEffect(() => {
    if (answer.status !== 'done' || !answer.done || recorded.current === answer) return;
    recorded.current = answer;
    const entry: HistoryEntry = {
      videoKey: key,
      question: answer.question,
      options: answer.options,
      text: answer.text,
      answer: answer.answer,
      option: answer.done.option,
      model,
      at: Date.now(),
    };
    addEntry(entry).then(reload, () => setUnavailable(true));
  }, [answer, key, model, reload]);

  if (unavailable)
    return (
      <p className="muted history-note" data-testid="history-unavailable">
        This browser does not keep a history here (storage is off or full).
      </p>
    );
  if (entries.length === 0) return null;
  return (
    <section className="history" aria-labelledby="history-title" data-testid="history">
      <div className="history-head">
        <h3 id="history-title">
          {facts ? 'Earlier questions on this video' : 'Earlier questions without a video'}
        </h3>
        <button
          type="button"
          className="button"
          onClick={() => clearFor(key).then(reload, () => setUnavailable(true))}
          data-testid="history-clear"
        >
          Clear
        </button>
      </div>
      <ol className="history-list">
        {entries.map((e) => (
          <li key={e.id} data-testid="history-entry">
            <p className="history-question">{e.question}</p>
            <p className="history-answer">
              {e.option && <span className="option-letter">{e.option}</span>} {e.answer || e.text || '—'}
            </p>
            <p className="muted history-meta">
              {formatTime(e.at)} · {e.model}
            </p>
          </li>
        ))}
      </ol>
    </section>
  );
}
