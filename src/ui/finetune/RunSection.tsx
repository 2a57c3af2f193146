import { useEffect, useId } from 'react';
import type { TrainState } from '../../engine-client';
import { settingsProblems } from '../../engine-client';
import { useApp } from '../store';
import { holdsGpu } from './finetune-slice';
import { MetricCharts } from './MetricCharts';
import { formatSeconds } from './SettingsSection';

const STATE_TEXT: Record<TrainState, string> = {
  idle: 'Not started',
  preparing: 'Looking at the clips',
  running: 'Training',
  paused: 'Paused',
  stopped: 'Stopped',
  done: 'Finished',
  error: 'Failed',
};

/** Start / pause / resume / stop, where the run stands, the charts and the latest completions. */
export function RunSection() {
  const run = useApp((s) => s.run);
  const log = useApp((s) => s.log);
  const error = useApp((s) => s.trainError);
  const saved = useApp((s) => s.savedRun);
  const hasModel = useApp((s) => s.model !== null);
  const modelName = useApp((s) => s.model?.name ?? null);
  const trainCount = useApp((s) => s.dataset.filter((d) => !d.heldOut).length);
  const settings = useApp((s) => s.trainSettings);
  const start = useApp((s) => s.startRun);
  const pause = useApp((s) => s.pauseRun);
  const resume = useApp((s) => s.resumeRun);
  const stop = useApp((s) => s.stopRun);
  const refreshSaved = useApp((s) => s.refreshSavedRun);
  const discard = useApp((s) => s.discardSavedRun);
  const id = useId();
  const busy = holdsGpu(run.state);
  const last = log[log.length - 1];

  useEffect(() => {
    if (hasModel) void refreshSaved();
  }, [hasModel, refreshSaved]);

  const canStart =
    hasModel && !busy && run.state !== 'paused' && trainCount > 0 && settingsProblems(settings).length === 0;
  // A run kept in this browser that this page is not driving (after a reload): offer to continue it.
  const offer =
    (run.state === 'idle' || run.state === 'error') && saved && saved.step < saved.totalSteps ? saved : null;

  return (
    <section
      className="card ft-section"
      aria-labelledby={`${id}-t`}
      data-testid="ft-run"
      data-state={run.state}
      data-step={run.step}
    >
      <div className="card-head">
        <h3 id={`${id}-t`}>3. Train</h3>
        <span className="progress-label" role="status" aria-live="polite" data-testid="ft-run-status">
          {STATE_TEXT[run.state]}
          {run.state === 'preparing' && run.prepare ? ` ${run.prepare.done}/${run.prepare.total}` : ''}
          {run.totalSteps > 0 && run.state !== 'preparing' ? ` · step ${run.step} of ${run.totalSteps}` : ''}
          {run.checkpoint > 0 ? ` · saved at step ${run.checkpoint}` : ''}
        </span>
      </div>
      {offer && (
        <div className="callout callout-info" data-testid="ft-resume-offer">
          <p>
            A run of {offer.baseModel} was saved in this browser at step {offer.step} of {offer.totalSteps} (
            {offer.items} items).{' '}
            {modelName && modelName !== offer.baseModel ? `Load ${offer.baseModel} to continue it.` : ''}
          </p>
          <div className="ft-row">
            <button
              type="button"
              className="button button-primary"
              disabled={!hasModel}
              onClick={() => void resume()}
              data-testid="ft-resume-saved"
            >
              Resume from step {offer.step}
            </button>
            <button
              type="button"
              className="button"
              onClick={() => void discard()}
              data-testid="ft-discard-saved"
            >
              Discard it
            </button>
          </div>
        </div>
      )}
      {run.resumedFrom !== null && (
        <p className="muted" data-testid="ft-resumed-from">
          Resumed from the checkpoint of step {run.resumedFrom}.
        </p>
      )}
      <div className="ft-row">
        <button
          type="button"
          className="button button-primary"
          disabled={!canStart}
          onClick={() => void start()}
          data-testid="ft-start"
        >
          {run.state === 'idle' ? 'Start' : 'Start a new run'}
        </button>
        <button
          type="button"
          className="button"
          disabled={run.state !== 'running'}
          onClick={() => void pause()}
          data-testid="ft-pause"
        >
          Pause
        </button>
        <button
          type="button"
          className="button"
          disabled={run.state !== 'paused'}
          onClick={() => void resume()}
          data-testid="ft-resume"
        >
          Resume
        </button>
        <button
          type="button"
          className="button"
          disabled={!busy && run.state !== 'paused'}
          onClick={() => void stop()}
          data-testid="ft-stop"
        >
          Stop
        </button>
        {!hasModel && <span className="muted">Load a model first (Ask view).</span>}
        {hasModel && trainCount === 0 && <span className="muted">Add items to train on first.</span>}
      </div>
      {busy && <p className="muted">Training holds the GPU: questions wait until it is paused or stopped.</p>}
      {error && (
        <div className="callout callout-error" role="alert" data-testid="ft-run-error">
          <strong>{error.message}</strong> {error.hint}
        </div>
      )}
      {last && (
        <p className="muted" data-testid="ft-last-step">
          Step {last.step}:{' '}
          {settings.mode === 'grpo'
            ? `reward ${last.reward.toFixed(2)} ± ${last.rewardStd.toFixed(2)}, accuracy ${(100 * last.accuracy).toFixed(0)} %, format ${(100 * last.formatRate).toFixed(0)} %, KL ${last.kl.toFixed(4)}, `
            : ''}
          loss {last.loss.toFixed(4)}, {formatSeconds(last.stepMs)}
        </p>
      )}
      <MetricCharts />
      <Completions />
    </section>
  );
}

function Completions() {
  const completions = useApp((s) => s.completions);
  if (!completions.length) return null;
  return (
    <details className="ft-completions" open data-testid="ft-completions">
      <summary>Latest step’s completions ({completions.length})</summary>
      <ol>
        {completions.map((c, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: completions have no identity beyond their place
          <li key={i} className={c.accuracy > 0 ? 'ft-right' : 'ft-wrong'}>
            <div className="ft-completion-head">
              <span>reward {c.reward.toFixed(2)}</span>
              <span>{c.accuracy > 0 ? 'right' : 'wrong'}</span>
              <span>{c.format > 0 ? 'well-formed' : 'malformed'}</span>
            </div>
            <p>
              <span className="muted">think:</span> {c.think || <em className="muted">(none)</em>}
            </p>
            <p>
              <span className="muted">answer:</span> <strong>{c.answer || '(none)'}</strong>
            </p>
          </li>
        ))}
      </ol>
    </details>
  );
}
