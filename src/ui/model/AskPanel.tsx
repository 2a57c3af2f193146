import { type FormEvent, type KeyboardEvent, useEffect, useId, useState } from 'react';
import type { AskPhase } from '../../engine-client';
import { AdapterChooser } from '../finetune/AdapterChooser';
import { holdsGpu } from '../finetune/finetune-slice';
import { HistoryPanel } from '../history/HistoryPanel';
import { useApp } from '../store';
import { AnswerView } from './AnswerView';
import { parseOptionLines } from './model-slice';
import { useQuestionDraft } from './question-draft';
import { optionLines } from './question-text';
import './model.css';

const PHASE_TEXT: Record<AskPhase, string> = {
  preprocess: 'Preparing frames',
  vision: 'Looking at the frames',
  connector: 'Summarising the video',
  prefill: 'Reading the question',
  decode: 'Writing',
};

/** Questions people ask about videos, one click away (the text stays editable). */
export const QUESTION_PRESETS: { label: string; question: string }[] = [
  { label: 'Describe', question: 'What is happening in this video? Describe it.' },
  { label: 'First', question: 'What happens first in this video?' },
  { label: 'Next', question: 'What happens at the end of this video, after what came before?' },
  { label: 'Count', question: 'How many people are in this video?' },
  { label: 'Why', question: 'Why is this happening in the video?' },
];

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
  // A question handed over by a sample clip fills the boxes (still editable).
  useEffect(
    () =>
      useQuestionDraft.subscribe((d) => {
        setQuestion(d.question);
        setOptions(optionLines(d.options));
      }),
    [],
  );
  const running = answer.status === 'running';
  const training = useApp((s) => holdsGpu(s.run.state));
  const canAsk = hasModel && !running && !training && question.trim() !== '';

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
      <AdapterChooser />
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
        <fieldset className="ask-presets">
          <legend className="visually-hidden">Example questions</legend>
          {QUESTION_PRESETS.map((p) => (
            <button
              key={p.label}
              type="button"
              className="chip"
              onClick={() => {
                setQuestion(p.question);
                document.getElementById(qId)?.focus();
              }}
              data-testid={`preset-${p.label.toLowerCase()}`}
            >
              {p.label}
            </button>
          ))}
        </fieldset>
        <label htmlFor={oId}>
          Options <span className="muted">(optional, one per line: A, B, C, …)</span>
        </label>
        <textarea
          id={oId}
          className="text-input ask-options"
          rows={4}
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
      <HistoryPanel />
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

/** A labelled number input that reports a finite value (blank or invalid text gives `fallback`). */
function NumberField(props: {
  id: string;
  label: string;
  value: number;
  min: number;
  max?: number;
  step: number;
  fallback: number;
  disabled: boolean;
  testId: string;
  onValue: (v: number) => void;
}) {
  const { id, label, value, min, max, step, fallback, disabled, testId, onValue } = props;
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        className="text-input"
        min={min}
        max={max}
        step={step}
        value={value}
        disabled={disabled}
        onChange={(e) => {
          const v = e.target.value;
          const n = Number(v);
          onValue(v.trim() !== '' && Number.isFinite(n) ? n : fallback);
        }}
        data-testid={testId}
      />
    </>
  );
}

function SamplingControls({ disabled }: { disabled: boolean }) {
  const sampling = useApp((s) => s.sampling);
  const setSampling = useApp((s) => s.setSampling);
  const id = useId();
  return (
    <details className="ask-settings" data-testid="sampling-settings">
      <summary>Sampling</summary>
      <div className="ask-settings-grid">
        <NumberField
          id={`${id}-t`}
          label="Temperature"
          value={sampling.temperature}
          min={0}
          max={2}
          step={0.05}
          fallback={0}
          disabled={disabled}
          testId="temperature-input"
          onValue={(v) => setSampling({ temperature: Math.max(0, v) })}
        />
        <NumberField
          id={`${id}-n`}
          label="Max new tokens"
          value={sampling.maxNewTokens}
          min={1}
          max={4096}
          step={1}
          fallback={1024}
          disabled={disabled}
          testId="max-tokens-input"
          onValue={(v) => setSampling({ maxNewTokens: Math.max(1, Math.round(v)) })}
        />
        <NumberField
          id={`${id}-s`}
          label="Seed"
          value={sampling.seed}
          min={0}
          step={1}
          fallback={0}
          disabled={disabled}
          testId="seed-input"
          onValue={(v) => setSampling({ seed: Math.max(0, Math.round(v)) })}
        />
      </div>
      <p className="muted ask-hint">
        Temperature 0.1 with top-k 50 is what the model's demo uses; 0 is greedy. The seed makes answers
        repeatable.
      </p>
    </details>
  );
}
