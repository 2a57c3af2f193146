import { type FormEvent, type KeyboardEvent, useId, useState } from 'react';
import type { AskPhase } from '../../engine-client';
import { useApp } from '../store';
import { AnswerView } from './AnswerView';
import { parseOptionLines } from './model-slice';
import './model.css';

const PHASE_TEXT: Record<AskPhase, string> = {
  preprocess: 'Preparing frames',
  vision: 'Looking at the frames',
  connector: 'Summarising the video',
  prefill: 'Reading the question',
  decode: 'Writing',
};

/** The question box (Enter asks, Shift+Enter breaks the line), optional options, settings, Ask / Stop. */
export function AskPanel() {
  const hasModel = useApp((s) => s.model !== null);
  const video = useApp((s) => s.video);
  const answer = useApp((s) => s.answer);
  const ask = useApp((s) => s.askQuestion);
  const stop = useApp((s) => s.stopAnswer);
  const [question, setQuestion] = useState('');
  const [options, setOptions] = useState('');
  const qId = useId();
  const oId = useId();
  const running = answer.status === 'running';
  const canAsk = hasModel && !running && question.trim() !== '';

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    if (canAsk) void ask(question.trim(), parseOptionLines(options));
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  };

  return (
    <section className="card ask-panel" aria-labelledby="ask-title" data-testid="ask-panel">
      <div className="card-head">
        <h2 id="ask-title">Ask</h2>
        <span
          className="progress-label"
          role="status"
          aria-live="polite"
          data-testid="ask-status"
          data-state={answer.status}
          data-phase={answer.phase ?? ''}
        >
          <StatusText status={answer.status} phase={answer.phase} stopping={answer.stopping} />
        </span>
      </div>
      <p className="muted ask-video" data-testid="ask-video" data-has-video={video !== null}>
        {video
          ? `About ${video.facts.name} (${video.indices.length} frames).`
          : 'No video loaded: questions are answered from the text alone. Drop a video above to ask about it.'}
      </p>
      <form className="ask-form" onSubmit={submit}>
        <label htmlFor={qId}>Question</label>
        <textarea
          id={qId}
          className="text-input ask-question"
          rows={2}
          placeholder="What happens in this video?"
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
          onKeyDown={onKey}
          aria-describedby={`${qId}-hint`}
          data-testid="question-input"
        />
        <p id={`${qId}-hint`} className="muted ask-hint">
          Enter asks; Shift+Enter starts a new line.
        </p>
        <label htmlFor={oId}>
          Options <span className="muted">(optional, one per line: A, B, C, …)</span>
        </label>
        <textarea
          id={oId}
          className="text-input ask-options"
          rows={3}
          placeholder={'A. a dog runs\nB. a cat sleeps'}
          value={options}
          onChange={(e) => setOptions(e.target.value)}
          data-testid="options-input"
        />
        <SamplingControls disabled={running} />
        <div className="ask-actions">
          <button type="submit" className="button button-primary" disabled={!canAsk} data-testid="ask-button">
            Ask
          </button>
          {running && (
            <button
              type="button"
              className="button"
              onClick={() => void stop()}
              disabled={answer.stopping}
              data-testid="stop-button"
            >
              {answer.stopping ? 'Stopping…' : 'Stop'}
            </button>
          )}
          {!hasModel && <span className="muted">Load a model to ask.</span>}
        </div>
      </form>
      <AnswerView />
    </section>
  );
}

function StatusText({
  status,
  phase,
  stopping,
}: {
  status: string;
  phase: AskPhase | null;
  stopping: boolean;
}) {
  if (status === 'running')
    return <>{stopping ? 'Stopping…' : phase ? `${PHASE_TEXT[phase]}…` : 'Starting…'}</>;
  if (status === 'done') return <>Done</>;
  if (status === 'stopped') return <>Stopped</>;
  if (status === 'error') return <>Failed</>;
  return <>Ready</>;
}

function SamplingControls({ disabled }: { disabled: boolean }) {
  const sampling = useApp((s) => s.sampling);
  const setSampling = useApp((s) => s.setSampling);
  const id = useId();
  const num = (v: string, fallback: number) => {
    const n = Number(v);
    return v.trim() !== '' && Number.isFinite(n) ? n : fallback;
  };
  return (
    <details className="ask-settings" data-testid="sampling-settings">
      <summary>Sampling</summary>
      <div className="ask-settings-grid">
        <label htmlFor={`${id}-t`}>Temperature</label>
        <input
          id={`${id}-t`}
          type="number"
          className="text-input"
          min={0}
          max={2}
          step={0.05}
          value={sampling.temperature}
          disabled={disabled}
          onChange={(e) => setSampling({ temperature: Math.max(0, num(e.target.value, 0)) })}
          data-testid="temperature-input"
        />
        <label htmlFor={`${id}-n`}>Max new tokens</label>
        <input
          id={`${id}-n`}
          type="number"
          className="text-input"
          min={1}
          max={4096}
          step={1}
          value={sampling.maxNewTokens}
          disabled={disabled}
          onChange={(e) => setSampling({ maxNewTokens: Math.max(1, Math.round(num(e.target.value, 1024))) })}
          data-testid="max-tokens-input"
        />
        <label htmlFor={`${id}-s`}>Seed</label>
        <input
          id={`${id}-s`}
          type="number"
          className="text-input"
          min={0}
          step={1}
          value={sampling.seed}
          disabled={disabled}
          onChange={(e) => setSampling({ seed: Math.max(0, Math.round(num(e.target.value, 0))) })}
          data-testid="seed-input"
        />
      </div>
      <p className="muted ask-hint">
        Temperature 0.1 with top-k 50 is what the model's demo uses; 0 is greedy. The seed makes answers
        repeatable.
      </p>
    </details>
  );
}
