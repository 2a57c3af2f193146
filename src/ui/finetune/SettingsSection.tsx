import { useEffect, useId } from 'react';
import type { TrainSettings } from '../../engine-client';
import { settingsProblems } from '../../engine-client';
import { formatBytes } from '../format';
import { useApp } from '../store';
import { holdsGpu } from './finetune-slice';

type NumKey = {
  [K in keyof TrainSettings]: TrainSettings[K] extends number ? K : never;
}[keyof TrainSettings];

/** Each number setting: its TRL name, a label, and a line on what it does. */
const FIELDS: { key: NumKey; label: string; help: string; step: number; grpo?: boolean }[] = [
  { key: 'steps', label: 'Steps', help: 'Optimizer steps in the run.', step: 1 },
  { key: 'per_device_train_batch_size', label: 'Prompts per step', help: 'Items a step trains on.', step: 1 },
  {
    key: 'num_generations',
    label: 'Completions per prompt (G)',
    help: 'GRPO compares these answers to one another.',
    step: 1,
    grpo: true,
  },
  {
    key: 'max_completion_length',
    label: 'Max completion tokens',
    help: 'Longer answers are cut here.',
    step: 1,
  },
  {
    key: 'temperature',
    label: 'Temperature',
    help: 'Sampling of the rollouts: higher explores more.',
    step: 0.1,
    grpo: true,
  },
  {
    key: 'beta',
    label: 'KL weight (β)',
    help: 'Keeps the policy near the base model (the paper: 0.01).',
    step: 0.01,
    grpo: true,
  },
  { key: 'learning_rate', label: 'Learning rate', help: 'AdamW step size for the adapter.', step: 0.0001 },
  { key: 'r', label: 'LoRA rank (r)', help: 'Adapter size: more rank, more capacity.', step: 1 },
  { key: 'lora_alpha', label: 'LoRA alpha', help: 'The adapter’s scale is alpha / r.', step: 1 },
  {
    key: 'lora_dropout',
    label: 'LoRA dropout',
    help: 'Drops part of the adapter’s input while training, against overfitting a small set (0: off).',
    step: 0.05,
  },
  {
    key: 'checkpoint_every',
    label: 'Checkpoint every',
    help: 'Steps between saves to this browser’s storage.',
    step: 1,
  },
  { key: 'frames', label: 'Frames per clip', help: 'Sampled uniformly for the vision tower.', step: 1 },
  {
    key: 'eval_every',
    label: 'Evaluate every',
    help: 'Steps between held-out evaluations (and one before training); 0: never.',
    step: 1,
  },
  { key: 'seed', label: 'Seed', help: 'Same seed, same run.', step: 1 },
];

export function SettingsSection() {
  const s = useApp((st) => st.trainSettings);
  const set = useApp((st) => st.setTrainSettings);
  const estimate = useApp((st) => st.estimate);
  const refresh = useApp((st) => st.refreshEstimate);
  const hasModel = useApp((st) => st.model !== null);
  const running = useApp((st) => holdsGpu(st.run.state));
  const id = useId();
  const problems = settingsProblems(s);

  useEffect(() => {
    if (!hasModel || running) return;
    const t = setTimeout(() => void refresh(s), 400);
    return () => clearTimeout(t);
  }, [s, hasModel, running, refresh]);

  return (
    <section className="card ft-section" aria-labelledby={`${id}-t`} data-testid="ft-settings">
      <div className="card-head">
        <h3 id={`${id}-t`}>2. Settings</h3>
      </div>
      <div className="ft-mode" role="radiogroup" aria-label="Method">
        {(['grpo', 'sft'] as const).map((m) => (
          <label key={m} className="ft-check">
            <input
              type="radio"
              name={`${id}-mode`}
              checked={s.mode === m}
              disabled={running}
              onChange={() => set({ mode: m })}
            />
            {m === 'grpo'
              ? 'GRPO (rewards: right answer, well-formed reasoning)'
              : 'SFT (imitate the reference answers)'}
          </label>
        ))}
      </div>
      <div className="ft-settings-grid">
        {FIELDS.filter((f) => !f.grpo || s.mode === 'grpo').map((f) => (
          <div key={f.key} className="ft-setting">
            <label htmlFor={`${id}-${f.key}`}>
              {f.label} <code className="muted">{f.key}</code>
            </label>
            <input
              id={`${id}-${f.key}`}
              type="number"
              className="text-input"
              step={f.step}
              value={s[f.key]}
              disabled={running}
              aria-describedby={`${id}-${f.key}-h`}
              onChange={(e) => {
                const n = Number(e.target.value);
                if (e.target.value.trim() !== '' && Number.isFinite(n))
                  set({ [f.key]: n } as Partial<TrainSettings>);
              }}
              data-testid={`ft-set-${f.key}`}
            />
            <span id={`${id}-${f.key}-h`} className="muted ft-help">
              {f.help}
            </span>
          </div>
        ))}
        {s.mode === 'grpo' && (
          <div className="ft-setting">
            <label htmlFor={`${id}-scale_rewards`}>
              Advantage scaling <code className="muted">scale_rewards</code>
            </label>
            <select
              id={`${id}-scale_rewards`}
              className="text-input"
              value={s.scale_rewards}
              disabled={running}
              aria-describedby={`${id}-scale_rewards-h`}
              onChange={(e) => set({ scale_rewards: e.target.value as TrainSettings['scale_rewards'] })}
              data-testid="ft-set-scale_rewards"
            >
              <option value="group">group (the paper)</option>
              <option value="batch">batch</option>
              <option value="none">none</option>
            </select>
            <span id={`${id}-scale_rewards-h`} className="muted ft-help">
              What rewards are divided by. Per group, tiny differences (such as think length) weigh as much as
              right against wrong when a group agrees; batch keeps them small.
            </span>
          </div>
        )}
      </div>
      {problems.length > 0 && (
        <p className="field-error" role="alert">
          {problems.join('; ')}
        </p>
      )}
      <p className="muted" data-testid="ft-estimate">
        {estimate
          ? `Estimate on this GPU: about ${formatSeconds(estimate.stepMs)} a step (a rough figure from its arithmetic and kernel launches, timed on this GPU now), ${formatBytes(estimate.gpuBytes)} of GPU memory beyond the model, an adapter of ${estimate.adapterParameters.toLocaleString()} parameters.`
          : hasModel
            ? 'Estimating…'
            : 'Load a model to see what a step costs.'}
      </p>
    </section>
  );
}

export function formatSeconds(ms: number): string {
  if (ms < 1000) return `${Math.max(1, Math.round(ms))} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}
