import { useEffect, useRef, useState } from 'react';
import type { AskStats } from '../../engine-client';
import { Badge } from '../components/Badge';
import { formatMs } from '../format';
import { useApp } from '../store';
import type { AnswerState } from './model-slice';

const letter = (i: number) => String.fromCharCode(65 + i);

/** What the model wrote: the thinking (collapsible, live), the answer with its option, the stats. */
export function AnswerView() {
  const a = useApp((s) => s.answer);
  if (a.status === 'idle') return null;
  return (
    <div className="answer-view" data-testid="answer-view">
      {a.visual === 'none' && (
        <p className="callout ask-note" data-testid="text-only-note">
          No video is loaded: the model answered from the text alone.
        </p>
      )}
      {a.error && (
        <div className="callout callout-error" role="alert" data-testid="ask-error" data-kind={a.error.kind}>
          <p>{a.error.message}</p>
          {a.error.hint && <p className="callout-hint">{a.error.hint}</p>}
        </div>
      )}
      <ThinkingPanel a={a} />
      <AnswerPanel a={a} />
      <details className="raw-output">
        <summary>Raw output ({a.tokens} tokens)</summary>
        <pre className="stream-text" data-testid="raw-output" data-tokens={a.tokens}>
          {a.text}
        </pre>
      </details>
      {a.stats && <StatsLine stats={a.stats} />}
      {a.status !== 'running' && <AnswerActions a={a} />}
    </div>
  );
}

/** Copy what the model wrote; ask the same question again with the next seed (another sample). */
function AnswerActions({ a }: { a: AnswerState }) {
  const ask = useApp((s) => s.askQuestion);
  const setSampling = useApp((s) => s.setSampling);
  const seed = useApp((s) => s.sampling.seed);
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(a.text);
      setCopied('yes');
    } catch {
      setCopied('failed'); // no clipboard permission (an insecure context, a denied prompt)
    }
    setTimeout(() => setCopied(null), 2000);
  };
  const regenerate = () => {
    setSampling({ seed: seed + 1 });
    void ask(a.question, a.options);
  };
  return (
    <div className="answer-actions">
      <button
        type="button"
        className="button"
        onClick={() => void copy()}
        disabled={!a.text}
        data-testid="copy-answer"
      >
        {copied === 'yes' ? 'Copied' : copied === 'failed' ? 'Could not copy' : 'Copy'}
      </button>
      <button
        type="button"
        className="button"
        onClick={regenerate}
        disabled={!a.question}
        data-testid="regenerate"
      >
        Regenerate
      </button>
      <span className="muted answer-actions-note">Regenerate asks again with seed {seed + 1}.</span>
    </div>
  );
}

function ThinkingPanel({ a }: { a: AnswerState }) {
  const live = a.status === 'running' && a.answer === '';
  // Follows the stream to its end unless the reader scrolled up to read.
  const ref = useRef<HTMLPreElement>(null);
  const follow = useRef(true);
  useEffect(() => {
    const el = ref.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  });
  return (
    <details className="thinking" open data-testid="thinking-panel">
      <summary>
        Thinking{' '}
        <span className="muted" data-testid="thinking-count" data-count={a.thinkTokens}>
          · {a.thinkTokens} tokens{live ? '…' : ''}
        </span>
      </summary>
      <pre
        ref={ref}
        className="stream-text thinking-text"
        aria-live="off"
        onScroll={(e) => {
          const el = e.currentTarget;
          follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
        data-testid="thinking-text"
      >
        {a.think || (a.status === 'running' ? '' : '—')}
      </pre>
    </details>
  );
}

function AnswerPanel({ a }: { a: AnswerState }) {
  const option = a.done?.option ?? null;
  const finished = a.status !== 'running';
  return (
    <div className="answer" data-testid="answer-panel" data-option={option ?? ''}>
      <div className="answer-head">
        <h3>Answer</h3>
        {finished &&
          a.done &&
          (option ? (
            <Badge tone="ok">
              <span data-testid="answer-option">{`Option ${option}`}</span>
            </Badge>
          ) : (
            <Badge tone="warn">No option found</Badge>
          ))}
      </div>
      <p className="answer-text" role="status" aria-live="polite" data-testid="answer-text">
        {a.answer || (finished ? <span className="muted">(the model gave no answer)</span> : '')}
      </p>
      {a.options.length > 0 && (
        <ol className="answer-options" data-testid="answer-options">
          {a.options.map((o, i) => {
            const l = letter(i);
            const chosen = finished && option === l;
            return (
              <li
                key={l}
                className={chosen ? 'is-chosen' : undefined}
                data-testid="option-item"
                data-letter={l}
                data-selected={chosen}
                aria-current={chosen ? 'true' : undefined}
              >
                <span className="option-letter">{l}</span> {o}
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}

function StatsLine({ stats: s }: { stats: AskStats }) {
  const st = s.stages;
  const stage = (label: string, ms: number | null, id: string) =>
    ms === null ? null : (
      <span className="stat" data-testid={`stat-${id}`}>
        {label} {formatMs(ms)}
      </span>
    );
  return (
    <p className="stats-line" data-testid="stats-line" data-stopped-by={s.stoppedBy}>
      <span className="stat" data-testid="stat-ttft">
        TTFT {formatMs(s.timeToFirstTokenMs)}
      </span>
      <span className="stat" data-testid="stat-tps">
        {s.tokensPerSecond.toFixed(1)} tok/s
      </span>
      <span className="stat" data-testid="stat-tokens">
        {s.newTokens} tokens ({s.promptTokens} in prompt)
      </span>
      {stage('video decode', st.videoDecodeMs, 'video')}
      {s.visualCached ? (
        <span className="stat" data-testid="stat-cached">
          video tokens reused
        </span>
      ) : (
        s.visualTokens > 0 && (
          <>
            {st.visionAhead ? (
              <span
                className="stat"
                data-testid="stat-vision-wait"
                title={`Ran while the video decoded: preprocess ${formatMs(st.visionAhead.preprocessMs)}, vision ${formatMs(st.visionAhead.visionMs)} (${st.visionAhead.frames} frames)`}
              >
                waited for vision {formatMs(st.visionAhead.waitMs)} (ran ahead:{' '}
                {formatMs(st.visionAhead.preprocessMs + st.visionAhead.visionMs)})
              </span>
            ) : (
              <>
                {stage('preprocess', st.preprocessMs, 'preprocess')}
                {stage('vision', st.visionMs, 'vision')}
              </>
            )}
            {stage('connector', st.connectorMs, 'connector')}
          </>
        )
      )}
      {stage('prefill', st.prefillMs, 'prefill')}
      {stage('decode', st.decodeMs, 'decode')}
      {s.stoppedBy === 'cancel' && <span className="stat">stopped</span>}
    </p>
  );
}
